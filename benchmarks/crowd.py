"""Cases with many transfers, through the library API (``benchmarks.api_worker``)."""

from __future__ import annotations

import statistics

from slixmpp_jet.testing.prosody import Account

from .cases import Bench, Row, side
from .procs import Child, Outcome, pair


def _workers(
    bench: Bench, mib: float, count: int, *, sequential: bool = False, transport: str = "auto"
) -> tuple[Outcome, Outcome, int]:
    path, inbox = bench.payload(mib), bench.inbox()
    size = path.stat().st_size

    def worker(role: str, account: Account, resource: str, *more: str) -> Child:
        return Child(
            ["-m", "benchmarks.api_worker", role, "--jid", f"{account.jid}/{resource}",
             f"--password={account.password}", "--port", str(bench.server.c2s_port),
             "--store", str(bench.store(account)), "--count", str(count), *more]
        )  # fmt: skip

    receiver = worker("receive", bench.bob, "api-r", "--dir", str(inbox), "--size", str(size))
    more = ["--sequential"] if sequential else []
    sender = worker("send", bench.alice, "api-s", "--to", f"{bench.bob.jid}/api-r",
                    "--file", str(path), "--transport", transport, *more)  # fmt: skip
    received, sent = pair(receiver, sender)
    return received, sent, size


def latency(bench: Bench, runs: int, transport: str) -> Row:
    """Offer to first byte at the receiver, one 64 KiB JET-OMEMO file at a time (median)."""
    received, sent, _ = _workers(bench, 1 / 16, runs, sequential=True, transport=transport)
    report, reports = received.last("first_bytes"), sent.last("offered")
    gaps = [
        first - offered
        for first, offered in zip(report["first_bytes"], reports["offered"], strict=False)
    ]
    return Row(
        f"latency: offer -> first byte, {transport.upper()}",
        runs / 16,
        ok=report["completed"] == runs,
        sender=side(sent),
        receiver=side(received),
        extra={
            "median_ms": round(statistics.median(gaps) * 1000, 1) if gaps else None,
            "completed": report["completed"],
            "of": runs,
        },
    )


def concurrent(bench: Bench, count: int, mib: float) -> Row:
    """``count`` JET-OMEMO transfers offered at once by one client to another."""
    return _crowd(bench, count, mib, f"{count} concurrent {mib:g} MiB JET-OMEMO")


def parallel(bench: Bench, count: int, mib: float) -> Row:
    """``count`` larger transfers in one process each side; the event loop's lag matters."""
    return _crowd(bench, count, mib, f"{count} parallel {mib:g} MiB JET-OMEMO, one process")


def _crowd(bench: Bench, count: int, mib: float, name: str) -> Row:
    received, sent, _ = _workers(bench, mib, count)
    report, sent_report = received.last("completed"), sent.last("seconds")
    return Row(
        name,
        mib * count,
        sent_report["seconds"],
        ok=report["completed"] == count,
        sender=side(sent),
        receiver=side(received),
        extra={
            "completed": report["completed"],
            "of": count,
            "errors": sent_report["errors"],
            "loop_lag_sender": sent_report["lag"],
            "loop_lag_receiver": report["lag"],
        },
    )
