"""The benchmark suite: ``python -m benchmarks`` from the repository root (needs Debian's prosody).

One throwaway Prosody, two accounts; every case runs its sender and its receiver in two
processes. Prints a table and writes every number to JSON (``--json``). Each rate comes with
the ratio to the baseline measured in the same run: on a shared or noisy machine only the
ratios mean anything, so the throughput cases run ``--repeat`` times in turn (a baseline and
its case minutes apart would measure the load, not the code): each row shows the median run,
and its ratio is the median of the ratios within each round. Nothing is asserted;
``tests/integration/test_benchmarks.py`` only checks that a tiny run produces every row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from slixmpp_jet.testing.prosody import ProsodyServer
from slixmpp_jet.transports.ibb.plugin import XEP_0261
from slixmpp_jet.transports.webrtc import aiortc_available

from . import cases, crowd
from .cases import Bench, Row
from .table import render

BASELINES = {
    "s5b-plain": "limit-plain",
    "s5b-jet": "limit-jet",
    "proxy-plain": "xep0065",
    "ibb-plain": "xep0047",
    "ibb-jet": "xep0047",
    "xep0065": "limit-plain",
    "webrtc-plain": "limit-plain",
    "webrtc-jet": "limit-jet",
    "ibb-ceiling": "xep0047",
}
CEILINGS = {"ibb-plain": "ibb-ceiling", "ibb-jet": "ibb-ceiling"}
"""Cases also compared with what the server allows at all (the note "of ceiling")."""
IBB_BLOCK = int(str(XEP_0261.default_config["block_size"]))
"""The ceiling relays blocks of the size our IBB offers."""


REPEATED = {*BASELINES, *BASELINES.values()}
"""The throughput cases, run ``--repeat`` times in turn: each row is the median run."""


def _attempt(key: str, case: Callable[[Bench], Row], bench: Bench) -> Row:
    bench.settle()
    before = server_cpu(bench.server)
    try:
        row = case(bench)
    except Exception as error:  # one broken case must not hide the others
        return Row(key, 0, ok=False, extra={"error": str(error)[-2000:]})
    after = server_cpu(bench.server)
    if before is not None and after is not None:
        row.extra["server_cpu_s"] = round(after - before, 2)
    return row


def server_cpu(server: ProsodyServer) -> float | None:
    """CPU seconds Prosody has used so far (user and system), where ``/proc`` tells."""
    try:
        fields = Path(f"/proc/{server.pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_growth(small: dict[str, float | None], large: dict[str, float | None]) -> float | None:
    """How much more peak memory one side took for the large file (None if not measured)."""
    before, after = small["peak_rss_mib"], large["peak_rss_mib"]
    return None if before is None or after is None else round(after - before, 1)


def _median(attempts: list[Row]) -> Row:
    """The run with the median rate (a failed run counts as slowest); all rates in extra."""
    ranked = sorted(attempts, key=lambda row: (row.ok, row.rate or 0.0))
    chosen = ranked[len(ranked) // 2]
    if len(attempts) > 1:
        chosen.extra["rates"] = [round(row.rate or 0.0, 2) for row in attempts]
    chosen.ok = all(row.ok for row in attempts)
    return chosen


def run(options: argparse.Namespace) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    big, ibb = options.mib, options.ibb_mib
    plan: dict[str, Callable[[Bench], Row]] = {
        "limit-plain": lambda b: cases.limit(b, big, crypto=False),
        "limit-jet": lambda b: cases.limit(b, big, crypto=True),
        "s5b-plain": lambda b: cases.cli(b, big, "s5b", "none", "CLI SOCKS5 direct, plain"),
        "s5b-jet": lambda b: cases.cli(b, big, "s5b", "omemo", "CLI SOCKS5 direct, JET-OMEMO"),
        "webrtc-plain": lambda b: cases.cli(
            b, big, "webrtc", "none", "CLI WebRTC data channel, plain"
        ),
        "webrtc-jet": lambda b: cases.cli(
            b, big, "webrtc", "omemo", "CLI WebRTC data channel, JET-OMEMO"
        ),
        "xep0065": lambda b: cases.baseline(b, big, "s5b"),
        "proxy-plain": lambda b: cases.cli(
            b, big, "s5b", "none", "CLI SOCKS5 via proxy65, plain", ("--no-direct",)
        ),
        "xep0047": lambda b: cases.baseline(b, ibb, "ibb"),
        "ibb-ceiling": lambda b: cases.relay(b, ibb, IBB_BLOCK, 16),
        "ibb-plain": lambda b: cases.cli(b, ibb, "ibb", "none", "CLI IBB, plain"),
        "ibb-jet": lambda b: cases.cli(b, ibb, "ibb", "omemo", "CLI IBB, JET-OMEMO"),
        "memory-1mib": lambda b: cases.cli(b, 1, "s5b", "omemo", "memory: JET 1 MiB"),
        "memory-big": lambda b: cases.cli(
            b, options.big_mib, "s5b", "omemo", f"memory: JET {options.big_mib:g} MiB"
        ),
        "latency-s5b": lambda b: crowd.latency(b, options.latency_runs, "s5b"),
        "latency-ibb": lambda b: crowd.latency(b, options.latency_runs, "ibb"),
        "concurrent": lambda b: crowd.concurrent(b, options.concurrent, 1),
        "parallel": lambda b: crowd.parallel(b, options.parallel, options.parallel_mib),
    }
    if not aiortc_available():
        del plan["webrtc-plain"], plan["webrtc-jet"]
    wanted = options.only.split(",") if options.only else list(plan)
    rounds = [[key for key in wanted if key in REPEATED]] * (options.repeat - 1)
    rounds.append(wanted)
    runs: dict[str, list[Row]] = {}
    with ProsodyServer() as server:
        bench = Bench.start(server)
        try:
            for number, keys in enumerate(rounds, 1):
                for key in keys:
                    print(f"... {key} ({number}/{len(rounds)})", file=sys.stderr, flush=True)
                    runs.setdefault(key, []).append(_attempt(key, plan[key], bench))
        finally:
            bench.close()
    for key, attempts in runs.items():
        rows[key] = _median(attempts)
    small, large = rows.get("memory-1mib"), rows.get("memory-big")
    if small and large and small.ok and large.ok:
        large.extra["rss_growth_mib"] = {
            "sender": _rss_growth(small.sender, large.sender),
            "receiver": _rss_growth(small.receiver, large.receiver),
        }
    for key, base in BASELINES.items():
        if key in rows and base in rows:
            _compare(rows[key], runs[key], rows[base], runs[base])
    for key, ceiling in CEILINGS.items():
        if key in rows and ceiling in rows:
            ratios = _ratios(runs[key], runs[ceiling])
            if ratios:
                rows[key].extra["of_ceiling"] = round(statistics.median(ratios), 2)
    return rows


def _compare(row: Row, attempts: list[Row], reference: Row, references: list[Row]) -> None:
    """The ratio to the baseline: the median of the ratios of runs made in the same round."""
    ratios = _ratios(attempts, references)
    if ratios:
        row.baseline, row.ratio = reference.case, statistics.median(ratios)
        row.extra["ratios"] = [round(ratio, 2) for ratio in ratios]


def _ratios(attempts: list[Row], references: list[Row]) -> list[float]:
    """Rate over reference rate, round by round."""
    return [
        attempt.rate / base.rate
        for attempt, base in zip(attempts, references, strict=False)
        if attempt.rate and base.rate
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--mib", type=float, default=256, help="SOCKS5 and limit size (256)")
    parser.add_argument("--ibb-mib", type=float, default=16, help="IBB size (16)")
    parser.add_argument("--big-mib", type=float, default=1024, help="memory case size (1024)")
    parser.add_argument("--concurrent", type=int, default=100, help="1 MiB JET transfers (100)")
    parser.add_argument("--parallel", type=int, default=20, help="transfers in one process (20)")
    parser.add_argument("--parallel-mib", type=float, default=16, help="size of each (16)")
    parser.add_argument("--latency-runs", type=int, default=5, help="offers timed (5)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each throughput case, in turn (3)"
    )
    parser.add_argument("--only", help="comma-separated case keys (default: all)")
    parser.add_argument(
        "--json", type=Path, default=Path("benchmark-results.json"), help="where to write"
    )
    options = parser.parse_args()
    started = time.time()
    rows = run(options)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(render(rows.values(), machine))
    options.json.write_text(
        json.dumps(
            {
                "machine": machine,
                "started": started,
                "options": {k: str(v) for k, v in vars(options).items()},
                "rows": {key: asdict(row) | {"rate": row.rate} for key, row in rows.items()},
            },
            indent=2,
        )
    )
    print(f"written to {options.json}")


if __name__ == "__main__":
    main()
