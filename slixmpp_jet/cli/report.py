"""What the command line says about each finished transfer, and the exit status that follows.

Human-readable results go to stdout (with ``--json``: one JSON object per transfer instead);
progress, notes and warnings go to stderr, so stdout stays clean for scripts.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from slixmpp import ClientXMPP

from ..errors import JetError, TransferDeclined
from ..file_transfer.transfer import Direction, Security, Transfer, TransferResult
from ..jet.ciphers import cipher_for_uri
from ..transports.ibb.stanza import NS_JINGLE_IBB
from ..transports.s5b.wire import NS as NS_S5B
from ..transports.webrtc.stanza import NS as NS_WEBRTC
from .failures import EXIT_FAILED, EXIT_OK, explain
from .peers import ENVELOPE_TITLES
from .progress import ProgressDisplay, human_size
from .stopping import Work

TRANSPORT_NAMES = {NS_WEBRTC: "webrtc", NS_S5B: "s5b", NS_JINGLE_IBB: "ibb"}
_TRANSPORT_TITLES = {"webrtc": "WebRTC data channel", "s5b": "SOCKS5", "ibb": "in-band (IBB)"}


@dataclass(frozen=True)
class Attempt:
    """What a transfer was meant to do, for reporting one that failed before it had a result."""

    direction: Direction
    peer: str
    name: str | None
    size: int | None = None
    security: Security | None = None

    @classmethod
    def of(cls, transfer: Transfer) -> Attempt:
        file = transfer.file
        return cls(transfer.direction, transfer.peer, file.name, file.size, transfer.security)


def is_verified(result: TransferResult) -> bool:
    """Completed *and* checked: the receiver confirmed (sending), or the GCM tag or checksum
    matched (receiving)."""
    return result.hash_verified or result.security is not None


class Reporter:
    """Prints progress and outcomes; remembers whether everything succeeded."""

    def __init__(
        self,
        json_lines: bool,
        terse: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self._json = json_lines
        self._terse = terse
        """``--quiet``: no notes and no progress; errors and results only."""
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self.display = ProgressDisplay(self._err, terminal=self._err.isatty() and not terse)
        self.completed = 0
        self.failures = 0
        self.stopping = False
        """Set once the command is being stopped: no more progress, failures counted but not
        printed."""

    @property
    def exit_status(self) -> int:
        return EXIT_FAILED if self.failures else EXIT_OK

    def attach(self, client: ClientXMPP, work: Work) -> None:
        """Show the progress of every transfer of ``client``; ``work`` follows each one from its
        start, so that stopping the command ends it."""
        client.add_event_handler("jingle_transfer_progress", self._progress)
        client.add_event_handler("jingle_transfer_started", work.add)

    def _progress(self, transfer: Transfer) -> None:
        if not self.stopping:
            self.display.update(transfer)

    def note(self, message: str) -> None:
        """A line for the person at the terminal (stderr); none with ``--quiet``."""
        if not self._terse:
            self._say(message)

    def _say(self, message: str) -> None:
        self.display.clear()
        print(message, file=self._err, flush=True)

    def error(self, message: str, status: int) -> None:
        """The command failed as a whole (login, reachability, usage): a line, and with
        ``--json`` an object with ``"outcome": "error"`` and the exit status."""
        if self._json:
            self._emit({"outcome": "error", "error": message, "exit_status": status})
        self._say(f"error: {message}")

    def result(self, result: TransferResult) -> None:
        """A transfer that completed; one whose integrity nobody checked counts as failed."""
        verified = is_verified(result)
        outcome = "completed" if verified else "unverified"
        if verified:
            self.completed += 1
        else:
            self.failures += 1
        if self._json:
            self._emit(
                _record(result.direction, result.peer, result.name, result.security, outcome)
                | {
                    "size": result.size,
                    "sha256": result.sha256,
                    "seconds": round(result.seconds, 3),
                    "stream_seconds": None
                    if result.stream_seconds is None
                    else round(result.stream_seconds, 3),
                    "transport": TRANSPORT_NAMES.get(result.transport, result.transport),
                    "path": str(result.path) if result.path else None,
                    "hash_verified": result.hash_verified,
                }
            )
            return
        self.display.clear()
        print(_describe(result), file=self._out, flush=True)
        print(f"  sha-256 {result.sha256}  {_verification(result)}", file=self._out, flush=True)

    def failure(self, attempt: Attempt, error: BaseException) -> None:
        """A transfer that did not complete: a line, or a JSON record with the Jingle reason."""
        self.failures += 1
        if self.stopping:
            return
        outcome = "declined" if isinstance(error, TransferDeclined) else "failed"
        if self._json:
            record = _record(
                attempt.direction, attempt.peer, attempt.name, attempt.security, outcome
            )
            reason = error.reason.value if isinstance(error, JetError) else None
            self._emit(record | {"size": attempt.size, "reason": reason, "error": explain(error)})
        verb = "sending" if attempt.direction is Direction.SEND else "receiving"
        preposition = "to" if attempt.direction is Direction.SEND else "from"
        self._say(
            f"error: {verb} {attempt.name or 'a file'} {preposition} {attempt.peer}: "
            f"{explain(error)}"
        )

    def refusal(
        self,
        direction: Direction,
        peer: str,
        why: str,
        reason: str = "decline",
        name: str | None = None,
    ) -> None:
        """An offer (receiving) or request (serving) we refused before it reached us, outcome
        ``refused``; or, with a ``name``, one we saw and declined, outcome ``declined``. Reported
        (``reason``: the Jingle reason sent), never counted as a transfer or a failure."""
        if self.stopping:
            return
        outcome = "refused" if name is None else "declined"
        if self._json:
            record = _record(direction, peer, name, None, outcome)
            self._emit(record | {"size": None, "reason": reason, "error": why})
        what = "an offer" if direction is Direction.RECEIVE else "a request"
        self.note(f"{outcome} {what if name is None else name} from {peer}: {why}")

    def _emit(self, record: dict[str, Any]) -> None:
        self.display.clear()
        print(json.dumps(record, sort_keys=True), file=self._out, flush=True)


def _record(
    direction: Direction, peer: str, name: str | None, security: Security | None, outcome: str
) -> dict[str, Any]:
    return {
        "direction": direction.value,
        "peer": peer,
        "name": name,
        "envelope": security.envelope if security else None,
        "cipher": cipher_for_uri(security.cipher).name if security else None,
        "outcome": outcome,
        "sha256": None,
        "seconds": None,
        "transport": None,
    }


def _describe(result: TransferResult) -> str:
    sending = result.direction is Direction.SEND
    verb, preposition = ("sent", "to") if sending else ("received", "from")
    rate = result.size / result.seconds if result.seconds > 0 else 0.0
    transport = TRANSPORT_NAMES.get(result.transport, result.transport)
    security = result.security
    if security is None:
        protection = "NOT encrypted"
    else:
        title = ENVELOPE_TITLES.get(security.envelope, security.envelope)
        protection = f"encrypted ({title}, {cipher_for_uri(security.cipher).name})"
    place = "" if sending or result.path is None else f" as {result.path}"
    return (
        f"{verb} {result.name} ({human_size(result.size)}) {preposition} {result.peer}{place} "
        f"in {result.seconds:.1f} s ({human_size(rate)}/s) over "
        f"{_TRANSPORT_TITLES.get(transport, transport)}, {protection}"
    )


def _verification(result: TransferResult) -> str:
    if result.direction is Direction.SEND:
        return "verified by the receiver"
    if result.security is not None:
        checksum = " and the sender's checksum" if result.hash_verified else ""
        return f"verified (GCM authentication tag{checksum})"
    if result.hash_verified:
        return "verified (matches the sender's checksum)"
    return "NOT verified: the sender sent no checksum"
