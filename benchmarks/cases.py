"""One row of the table per case: the two processes it ran and what they measured."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slixmpp_jet.testing.prosody import Account, ProsodyServer

from .procs import Child, Outcome, pair

MIB = 1024 * 1024


@dataclass
class Row:
    """What the table shows for one case (``None``: not measured for this case)."""

    case: str
    mib: float
    seconds: float | None = None
    baseline: str | None = None
    ratio: float | None = None
    ok: bool = True
    sender: dict[str, float | None] = field(default_factory=dict)
    receiver: dict[str, float | None] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        return self.mib / self.seconds if self.seconds else None


def side(outcome: Outcome) -> dict[str, float | None]:
    """CPU seconds, peak RSS and login time of one process."""
    return {
        "cpu_s": round(outcome.cpu, 2),
        "peak_rss_mib": round(outcome.peak_rss_mib, 1),
        "login_s": None if outcome.ready_after is None else round(outcome.ready_after, 2),
        "status": outcome.status,
    }


@dataclass
class Bench:
    """The shared set-up: one Prosody, two befriended accounts, stable OMEMO stores, files."""

    server: ProsodyServer
    scratch: Path
    alice: Account
    bob: Account

    @classmethod
    def start(cls, server: ProsodyServer) -> Bench:
        scratch = Path(tempfile.mkdtemp(prefix="jet-bench-"))
        alice, bob = server.register("alice"), server.register("bob")
        server.befriend(alice, bob)
        return cls(server, scratch, alice, bob)

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

    def payload(self, mib: float) -> Path:
        """A file of random bytes, made once per size."""
        path = self.scratch / f"payload-{mib:g}MiB.bin"
        if not path.exists():
            size = int(mib * MIB)
            with path.open("wb") as out:
                while size > 0:
                    piece = min(size, 4 * MIB)
                    out.write(os.urandom(piece))
                    size -= piece
        return path

    def inbox(self) -> Path:
        """A fresh, empty directory to receive into."""
        return Path(tempfile.mkdtemp(dir=self.scratch, prefix="in-"))

    def settle(self) -> None:
        """Before a case: drop the files received so far and flush every dirty page, so that
        no case pays for writing back the one before (a run's first case would be the only
        one to start on a clean page cache)."""
        for inbox in self.scratch.glob("in-*"):
            shutil.rmtree(inbox, ignore_errors=True)
        os.sync()

    def account_args(self, account: Account, resource: str) -> list[str]:
        return [
            "--jid", account.jid, "--resource", resource, "--host", "127.0.0.1",
            "--port", str(self.server.c2s_port), "--plaintext",
        ]  # fmt: skip

    def env(self, account: Account) -> dict[str, str]:
        return {"SLIXMPP_JET_PASSWORD": account.password}

    def store(self, account: Account) -> Path:
        return self.scratch / f"{account.user}-omemo.json"


def limit(bench: Bench, mib: float, crypto: bool) -> Row:
    """The two-process loopback copy (``benchmarks.limit``)."""
    path, inbox = bench.payload(mib), bench.inbox()
    flag = ["--crypto"] if crypto else []
    receiver = Child(["-m", "benchmarks.limit", "receive", "--dir", str(inbox), *flag]).start()
    try:
        receiver.wait_ready()
        port = str(receiver.ready_value)
        sent = Child(["-m", "benchmarks.limit", "send", "--port", port, "--file", str(path), *flag])
        sender_outcome = sent.start().finish()
    except BaseException:
        receiver.kill()
        receiver.finish()
        raise
    received = receiver.finish()
    name = "limit: copy + SHA-256 + AES-GCM" if crypto else "limit: copy + SHA-256"
    report = received.last("seconds")
    return Row(name, mib, report["seconds"], ok=report["bytes"] == path.stat().st_size,
               sender=side(sender_outcome), receiver=side(received))  # fmt: skip


def cli(bench: Bench, mib: float, transport: str, encrypt: str, name: str,
        extra_args: tuple[str, ...] = (), count: int = 1) -> Row:  # fmt: skip
    """``slixmpp-jet receive`` and ``slixmpp-jet send``, each in its own process."""
    path, inbox = bench.payload(mib), bench.inbox()
    common = ["--transport", transport, "--encrypt", encrypt, "--json", *extra_args]

    def common_for(account: Account) -> list[str]:
        return ["--omemo-store", str(bench.store(account))] if encrypt == "omemo" else []

    receiver = Child(
        ["-m", "slixmpp_jet", "receive", *bench.account_args(bench.bob, "r"), *common,
         *common_for(bench.bob), "--mkdir", "--dir", str(inbox), "--count", str(count)],
        env=bench.env(bench.bob),
    )  # fmt: skip
    sender = Child(
        ["-m", "slixmpp_jet", "send", *bench.account_args(bench.alice, "s"), *common,
         *common_for(bench.alice), "--to", f"{bench.bob.jid}/r", *[str(path)] * count],
        env=bench.env(bench.alice),
    )  # fmt: skip
    received, sent = pair(receiver, sender)
    results = [line for line in received.lines if line.get("outcome") == "completed"]
    ok = len(results) == count and all(line["size"] == path.stat().st_size for line in results)
    seconds = sum(line["stream_seconds"] or line["seconds"] for line in results) if ok else None
    return Row(name, mib * count, seconds, ok=ok, sender=side(sent), receiver=side(received),
               extra={"transport": results[0]["transport"] if results else None})  # fmt: skip


def baseline(bench: Bench, mib: float, method: str) -> Row:
    """slixmpp's own xep_0065 (via proxy65) or xep_0047 (defaults), in two processes."""
    path, inbox = bench.payload(mib), bench.inbox()

    def worker(role: str, account: Account, resource: str, *more: str) -> Child:
        return Child(
            ["-m", "benchmarks.baseline", method, role, "--jid", f"{account.jid}/{resource}",
             f"--password={account.password}", "--port", str(bench.server.c2s_port), *more]
        )  # fmt: skip

    receiver = worker("receive", bench.bob, "base-r", "--dir", str(inbox))
    sender = worker("send", bench.alice, "base-s", "--to", f"{bench.bob.jid}/base-r",
                    "--file", str(path))  # fmt: skip
    received, sent = pair(receiver, sender)
    report = received.last("seconds")
    name = "slixmpp xep_0065 via proxy65" if method == "s5b" else "slixmpp xep_0047 (defaults)"
    return Row(name, mib, report["seconds"], ok=report["bytes"] == path.stat().st_size,
               sender=side(sent), receiver=side(received))  # fmt: skip


def relay(bench: Bench, mib: float, block: int, window: int) -> Row:
    """The server's own ceiling for IBB: raw IQs relayed between two plain sockets."""

    def worker(role: str, account: Account, resource: str, *more: str) -> Child:
        return Child(
            ["-m", "benchmarks.relay", role, "--jid", f"{account.jid}/{resource}",
             f"--password={account.password}", "--port", str(bench.server.c2s_port), *more]
        )  # fmt: skip

    receiver = worker("receive", bench.bob, "relay-r")
    sender = worker("send", bench.alice, "relay-s", "--to", f"{bench.bob.jid}/relay-r",
                    "--mib", str(mib), "--block", str(block), "--window", str(window))  # fmt: skip
    received, sent = pair(receiver, sender)
    report = received.last("seconds")
    return Row(f"ceiling: raw IQ relay, {block} B blocks, {window} in flight", mib,
               report["seconds"], sender=side(sent), receiver=side(received))  # fmt: skip
