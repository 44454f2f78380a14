"""A seeded fuzzing campaign against a real ``receive`` and ``serve`` on a throwaway Prosody.

:func:`run_campaign` starts both commands, attacks them with ``stanzas`` mutated stanzas from
one attacker account, then checks that a legitimate ``send`` and ``request`` still succeed,
lets the attacker leave and measures what the targets still hold. The :class:`Report` has the
numbers; :meth:`Report.problems` lists what a CI run fails on.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..clients import connect, disconnect, make_client
from ..demo import cli_arguments, cli_command, cli_environment, write_random_file
from ..prosody import Account, ProsodyServer
from .attacker import Attacker
from .mutations import FAMILIES, LiveSession, Shot, StanzaFactory, serialise
from .targets import Target, Usage

MAX_STANZA = 512 * 1024
"""Characters; larger shots are made again (the server would close the attacker's stream)."""
SETTLE_SECONDS = 30.0
WARM_UP = 1000
"""Stanzas of the campaign after which the targets' usage is taken as the starting level."""
"""How long the targets get, after the attacker leaves, to come back to their starting usage."""


@dataclass
class Report:
    """What a campaign saw."""

    seed: int
    stanzas: int
    seconds: float = 0.0
    sent: Counter[str] = field(default_factory=Counter)
    answers: Counter[tuple[str, str]] = field(default_factory=Counter)
    unanswered: Counter[str] = field(default_factory=Counter)
    unanswered_samples: list[str] = field(default_factory=list)
    stream_losses: int = 0
    deaths: list[str] = field(default_factory=list)
    tracebacks: int = 0
    traceback_lines: list[str] = field(default_factory=list)
    usage: dict[str, dict[str, Usage | None]] = field(default_factory=dict)
    """Per target: ``login`` (ready, nothing done yet), ``start`` (warmed up: after a
    legitimate send and request and the first :data:`WARM_UP` stanzas), ``peak`` (most
    descriptors seen) and ``end`` (after settling). Descriptors must come back to their level
    at login; memory to its level at start: login to start is what a process loads once
    (modules, threads, caches), whatever it then handles."""
    leftover_files: list[str] = field(default_factory=list)
    legitimate: dict[str, bool] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Everything that must not happen: a CI campaign fails on any of these."""
        found = []
        if self.stream_losses:
            found.append(f"{self.stream_losses} stream losses")
        if self.deaths:
            found.append(f"processes died: {', '.join(self.deaths)}")
        if self.tracebacks:
            found.append(f"{self.tracebacks} traceback lines: {self.traceback_lines[:3]}")
        if total := sum(self.unanswered.values()):
            found.append(f"{total} unanswered IQs: {self.unanswered_samples}")
        if self.leftover_files:
            found.append(f"files left behind: {self.leftover_files[:10]}")
        failed = [name for name, succeeded in self.legitimate.items() if not succeeded]
        if failed:
            found.append(f"legitimate transfers failed: {', '.join(failed)}")
        return found

    def text(self) -> str:
        """The report as lines for a person."""
        rate = sum(self.sent.values()) / self.seconds if self.seconds else 0.0
        lines = [
            f"seed {self.seed}: {sum(self.sent.values())} stanzas in {self.seconds:.1f} s "
            f"({rate:.0f}/s)",
            f"{'family':22} {'sent':>7} {'per s':>7}  answers",
        ]
        for family in FAMILIES:
            outcomes = sorted(
                ((count, outcome) for (name, outcome), count in self.answers.items()
                 if name == family),
                reverse=True,
            )  # fmt: skip
            shown = ", ".join(f"{outcome} {count}" for count, outcome in outcomes)
            per_second = self.sent[family] / self.seconds if self.seconds else 0.0
            lines.append(f"{family:22} {self.sent[family]:>7} {per_second:>7.0f}  {shown}")
        lines.append(f"unanswered IQs (10 s): {sum(self.unanswered.values())}")
        lines.append(f"stream losses: {self.stream_losses}; process deaths: {len(self.deaths)}")
        lines.append(f"traceback lines: {self.tracebacks}")
        for target, seen in self.usage.items():
            shown = "; ".join(
                f"{moment} {u.descriptors} fds {u.rss_kib / 1024:.0f} MiB"
                for moment, u in seen.items()
                if u is not None
            )
            lines.append(f"{target}: {shown}")
        lines.append(f"files left behind: {len(self.leftover_files)}")
        verdicts = (f"{name} {'ok' if ok else 'FAILED'}" for name, ok in self.legitimate.items())
        lines.append("legitimate transfers: " + ", ".join(verdicts))
        problems = self.problems()
        lines.append("problems: " + ("; ".join(problems) if problems else "none"))
        return "\n".join(lines)


class Plan:
    """Which stanza comes next: a family, a target, a live session or not, some mutations."""

    def __init__(
        self, factory: StanzaFactory, attacker: Attacker, families: tuple[str, ...] = FAMILIES
    ) -> None:
        self.factory = factory
        self.rng = factory.rng
        self.attacker = attacker
        self.families = families

    def next_shot(self) -> Shot:
        while True:
            shot = self._make(self.rng.choice(self.families))
            if len(shot.payload) <= MAX_STANZA:
                return shot

    def _make(self, family: str) -> Shot:
        mutations = 0 if self.rng.random() < 0.25 else self.rng.randrange(1, 4)
        factory = self.factory
        if family.startswith("session-initiate"):
            request = self.rng.random() < 0.5
            target = factory.server if request else factory.receiver
            session = LiveSession(target, secrets.token_hex(6), secrets.token_hex(6), "a")
            payload = factory.initiate(
                session.sid, session.ibb_sid, request, jet=family.endswith("jet")
            )
            if mutations == 0:
                self.attacker.pending[session.sid] = session
        else:
            session = self._session()
            if family.startswith("ibb-"):
                payload = factory.ibb(family, session.ibb_sid, session.next_seq)
                if family == "ibb-data" and mutations == 0:
                    session.next_seq += 1
            else:
                payload = factory.follow_up(family, session.sid, session.ibb_sid, session.content)
        factory.mutate(payload, mutations)
        kind = "get" if self.rng.random() < 0.02 else "set"
        return Shot(family, session.target, serialise(payload), kind)

    def _session(self) -> LiveSession:
        """A live session 60 % of the time (when there is one), else made-up ids."""
        live = list(self.attacker.live.values())
        if live and self.rng.random() < 0.6:
            return self.rng.choice(live)
        target = self.rng.choice([self.factory.receiver, self.factory.server])
        return LiveSession(target, secrets.token_hex(6), secrets.token_hex(6), "a")


async def run_campaign(
    server: ProsodyServer,
    seed: int,
    stanzas: int,
    work: Path | None = None,
    families: tuple[str, ...] = FAMILIES,
) -> Report:
    """Attack a fresh ``receive`` and ``serve`` on ``server`` with ``stanzas`` stanzas of
    ``families`` (all by default)."""
    unknown = set(families) - set(FAMILIES)
    if unknown or not families:
        raise ValueError(f"families must be some of {', '.join(FAMILIES)}")
    with tempfile.TemporaryDirectory(prefix="jet-fuzz-", dir=work) as directory:
        return await _Campaign(server, seed, stanzas, families, Path(directory)).run()


class _Campaign:
    def __init__(
        self,
        server: ProsodyServer,
        seed: int,
        stanzas: int,
        families: tuple[str, ...],
        directory: Path,
    ) -> None:
        self.server = server
        self.families = families
        self.report = Report(seed, stanzas)
        self.rng = random.Random(seed)
        self.stanzas = stanzas
        self.inbox, self.shared, self.outbox = (directory / n for n in ("in", "shared", "out"))
        for folder in (self.inbox, self.shared, self.outbox):
            folder.mkdir()
        self.files = tuple(f"shared-{n}.bin" for n in range(3))
        for name in self.files:
            write_random_file(self.shared / name, 64 * 1024)
        write_random_file(self.outbox / "legitimate.bin", 200_000)

    async def run(self) -> Report:
        receiver, server, attacker, legitimate = (self.server.register() for _ in range(4))
        self.server.befriend(receiver, server, attacker, legitimate)
        self.legitimate_account = legitimate
        targets = [
            Target(self.server, receiver, "fuzz", "receive", "--dir", str(self.inbox)),
            Target(self.server, server, "fuzz", "serve", "--dir", str(self.shared)),
        ]
        try:
            for target in targets:
                await asyncio.to_thread(target.wait_ready)
            await self._attack(targets, attacker)
        finally:
            self._check_alive(targets)
            for target in targets:
                finished = await asyncio.to_thread(target.stop)
                if finished.status < 0 and target.name not in self.report.deaths:
                    self.report.deaths.append(f"{target.name} (signal {-finished.status})")
                self.report.tracebacks += target.tracebacks
                self.report.stream_losses += target.stream_losses
                self.report.traceback_lines += [
                    line for line in target.lines if "Traceback" in line or "Fatal" in line
                ]
        return self.report

    async def _attack(self, targets: list[Target], account: Account) -> None:
        client = make_client(self.server, account, "attacker")
        await connect(client, self.server)
        attacker = Attacker(client)
        receiver, server = targets
        factory = StanzaFactory(self.rng, receiver.jid, server.jid, self.files)
        plan = Plan(factory, attacker, self.families)
        for target in targets:
            login = target.usage()
            self.report.usage[target.name] = {"login": login, "start": None, "peak": login}
        await self._legitimate_transfers(receiver, server, " (warm-up)")
        started = time.monotonic()
        try:
            for count in range(self.stanzas):
                if count == min(WARM_UP, self.stanzas // 2):
                    await attacker.drain()
                    self._take_starting_usage(targets)
                await attacker.fire(plan.next_shot())
                if count % 200 == 0:
                    self._sample(targets)
                    self._check_alive(targets)
            await attacker.drain()
            self.report.seconds = time.monotonic() - started
            self._sample(targets)
            await self._legitimate_transfers(receiver, server)
        finally:
            attacker.close()
            await disconnect(client)
        self.report.sent, self.report.answers = attacker.sent, attacker.answers
        self.report.unanswered = attacker.unanswered
        self.report.unanswered_samples = attacker.unanswered_samples
        await self._settle(targets)

    def _take_starting_usage(self, targets: list[Target]) -> None:
        for target in targets:
            self.report.usage[target.name]["start"] = target.usage()

    def _sample(self, targets: list[Target]) -> None:
        for target in targets:
            now, peak = target.usage(), self.report.usage[target.name]["peak"]
            if now is not None and (peak is None or now.descriptors > peak.descriptors):
                self.report.usage[target.name]["peak"] = now

    def _check_alive(self, targets: list[Target]) -> None:
        for target in targets:
            if not target.alive and target.name not in self.report.deaths:
                self.report.deaths.append(target.name)

    async def _legitimate_transfers(self, receiver: Target, server: Target, when: str = "") -> None:
        """A ``send`` to the receiver and a ``request`` from the server (``when``: a label for
        the report); what they wrote is removed after checking it."""
        account = self.legitimate_account
        sent = await self._cli(account, "send", "--to", receiver.jid,
                               str(self.outbox / "legitimate.bin"))  # fmt: skip
        arrived = self.inbox / "legitimate.bin"
        self.report.legitimate[f"send{when}"] = sent == 0 and arrived.is_file()
        fetched = await self._cli(account, "request", "--from", server.jid,
                                  "--name", self.files[0], "--dir", str(self.outbox))  # fmt: skip
        copy = self.outbox / self.files[0]
        self.report.legitimate[f"request{when}"] = (
            fetched == 0 and copy.read_bytes() == (self.shared / self.files[0]).read_bytes()
        )
        arrived.unlink(missing_ok=True)
        copy.unlink(missing_ok=True)

    async def _cli(self, account: Account, command: str, *arguments: str) -> int:
        line = cli_command(command, *cli_arguments(self.server, account, "legit"), *arguments)

        def run() -> int:
            done = subprocess.run(
                line, env=cli_environment(account), capture_output=True, timeout=180, check=False
            )
            return done.returncode

        return await asyncio.to_thread(run)

    async def _settle(self, targets: list[Target]) -> None:
        """Wait for the targets to let go of the attacker's sessions, then measure."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            if self._settled(targets):
                break
            await asyncio.sleep(0.5)
        for target in targets:
            self.report.usage[target.name]["end"] = target.usage()
        self.report.leftover_files = sorted(path.name for path in self.inbox.iterdir())
        self._check_alive(targets)

    def _settled(self, targets: list[Target]) -> bool:
        """No file in the inbox, and no more descriptors open than right after login."""
        if any(self.inbox.iterdir()):
            return False
        for target in targets:
            login, now = self.report.usage[target.name]["login"], target.usage()
            if login is None or now is None or now.descriptors > login.descriptors:
                return False
        return True
