"""``python -m slixmpp_jet.testing.fuzz [--seed N] [--stanzas N] [--families F ...] [--json]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from ..prosody import ProsodyServer
from .campaign import Report, run_campaign
from .mutations import FAMILIES


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m slixmpp_jet.testing.fuzz")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stanzas", type=int, default=2000)
    parser.add_argument(
        "--families", nargs="+", default=FAMILIES, choices=FAMILIES, help="only these families"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    options = parser.parse_args()
    families = tuple(options.families)
    with ProsodyServer() as server:
        report = asyncio.run(run_campaign(server, options.seed, options.stanzas, None, families))
    print(_as_json(report) if options.json else report.text(), flush=True)
    return 1 if report.problems() else 0


def _as_json(report: Report) -> str:
    answers = [
        {"family": family, "outcome": outcome, "count": count}
        for (family, outcome), count in sorted(report.answers.items())
    ]
    usage = {
        target: {moment: u.__dict__ if u else None for moment, u in seen.items()}
        for target, seen in report.usage.items()
    }
    return json.dumps(
        {
            "seed": report.seed,
            "stanzas": sum(report.sent.values()),
            "seconds": round(report.seconds, 1),
            "sent": dict(report.sent),
            "answers": answers,
            "unanswered": dict(report.unanswered),
            "stream_losses": report.stream_losses,
            "deaths": report.deaths,
            "tracebacks": report.tracebacks,
            "usage": usage,
            "leftover_files": report.leftover_files,
            "legitimate": report.legitimate,
            "problems": report.problems(),
        },
        indent=2,
    )


if __name__ == "__main__":
    sys.exit(main())
