"""The file-transfer protocol of one content (XEP-0234 over XEP-0166): sans-I/O, with timers.

It never awaits, never touches a socket, a file or slixmpp. The driver (:mod:`.job`) feeds it
events (the peer's actions, the transport and the stream reporting in, timers firing, the
application cancelling, the disk failing) and carries out the commands each event returns:
send this, open or replace that transport, start or stop a timer, commit or discard the
temporary file, report the outcome. Time is an input, as in aioquic's ``handle_timer``.

Theory of operation::

    NEW ─start─> AWAITING_ACCEPT ─accepted─> CONNECTING ─ready─> STREAMING ─finished─┐
     └──────start (responder)───────────────────┘  │ ▲                               │
                                   transport failed ▼ │ replaced       (receiver)     ▼
                                              REPLACING            AWAITING_CHECKSUM / COMMITTING
                                                                   (sender) AWAITING_VERDICT
    every phase ── failure, timeout, cancel, peer's terminate ──> ENDED

Rules that hold whatever the events (checked by property-based tests):

* a session reaches exactly one end, reported once with :class:`Finish`;
* :class:`Terminate` is emitted at most once, and never after the peer ended the session;
* the temporary file is committed only after the stream finished (size and tag checked by
  the driver) and the hash checked out; on every other end it is discarded;
* once ended, every event is ignored.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import JetError, Reason, TransferCancelled, TransferDeclined, TransferError
from ..jingle.stanza import JingleReason


@enum.unique
class Phase(enum.Enum):
    """Where one content's transfer stands."""

    NEW = "new"
    AWAITING_ACCEPT = "awaiting-accept"
    CONNECTING = "connecting"
    REPLACING = "replacing"
    STREAMING = "streaming"
    AWAITING_CHECKSUM = "awaiting-checksum"
    COMMITTING = "committing"
    AWAITING_VERDICT = "awaiting-verdict"
    ENDED = "ended"


@enum.unique
class Timer(enum.Enum):
    """The protocol's timers; each runs at most once at a time."""

    ACCEPT = "accept"
    """The initiator's wait for session-accept."""
    IDLE = "idle"
    """No byte moved (connecting or streaming)."""
    REPLACE = "replace"
    """A transport-replace to be answered (ours) or to arrive (the peer's)."""
    CHECKSUM = "checksum"
    """The receiver's wait for the sender's checksum after the last byte."""
    VERDICT = "verdict"
    """The sender's wait for the receiver's session-terminate after the last byte."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds for each timer; ``None`` waits for ever."""

    accept: float | None = None
    idle: float | None = 60.0
    replace: float = 30.0
    checksum: float = 10.0
    verdict: float = 60.0


# -- events in -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """The session is under way: our session-initiate was acknowledged (initiator), or the
    application accepted the peer's and session-accept is to be sent (responder)."""

    now: float


@dataclass(frozen=True)
class SessionAccepted:
    """The peer's session-accept (initiator). For a request it says which hashes to expect."""

    now: float
    hashes: Mapping[str, bytes] = field(default_factory=dict)
    checksum_announced: bool = False


@dataclass(frozen=True)
class TransportReady:
    """The current transport is open: bytes may flow."""


@dataclass(frozen=True)
class TransportFailed:
    """The current transport could not be set up."""

    error: JetError


@dataclass(frozen=True)
class ReplaceOffered:
    """The peer's transport-replace proposes ``namespace``."""

    namespace: str


@dataclass(frozen=True)
class ReplaceAnswered:
    """The peer's answer to our transport-replace (accept, or reject / an IQ error)."""

    accepted: bool


@dataclass(frozen=True)
class BytesMoved:
    """Bytes went over the wire (either direction): the transfer is alive."""

    count: int
    now: float


@dataclass(frozen=True)
class StreamFinished:
    """Every byte is through. Sender: written and the stream ended. Receiver: exactly the
    announced size arrived and the GCM tag (if any) verified; ``digests`` of the plaintext."""

    digests: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class ChecksumReceived:
    """The sender's ``checksum`` session-info."""

    hashes: Mapping[str, bytes]


@dataclass(frozen=True)
class FileCommitted:
    """The temporary file is now the destination (receiver)."""


@dataclass(frozen=True)
class TimerFired:
    """A timer started by :class:`StartTimer` ran out."""

    timer: Timer
    now: float


@dataclass(frozen=True)
class LocalCancel:
    """The application (or the user, Ctrl-C) stopped the transfer."""


@dataclass(frozen=True)
class Failed:
    """Something on our side failed: the stream broke, the tag or the disk failed, a send was
    refused. ``error.reason`` is the Jingle reason to end with."""

    error: JetError


@dataclass(frozen=True)
class SessionEnded:
    """The Jingle session ended without us: the peer's session-terminate, the peer going
    offline (``by_peer``), or our own stream ending."""

    reason: JingleReason
    by_peer: bool = True


Event = (
    Start
    | SessionAccepted
    | TransportReady
    | TransportFailed
    | ReplaceOffered
    | ReplaceAnswered
    | BytesMoved
    | StreamFinished
    | ChecksumReceived
    | FileCommitted
    | TimerFired
    | LocalCancel
    | Failed
    | SessionEnded
)

# -- commands out --------------------------------------------------------------------------


@dataclass(frozen=True)
class SendAccept:
    """Send our session-accept (responder)."""


@dataclass(frozen=True)
class OpenTransport:
    """Start setting up the current transport; report :class:`TransportReady` or
    :class:`TransportFailed`. Any attempt on an earlier transport is dropped."""


@dataclass(frozen=True)
class ReplaceTransport:
    """Create a ``namespace`` transport and send transport-replace with it (initiator)."""

    namespace: str


@dataclass(frozen=True)
class AnswerReplace:
    """Answer the peer's transport-replace with transport-accept or transport-reject."""

    accept: bool


@dataclass(frozen=True)
class StartStreaming:
    """Move the bytes over the open transport (receiver: into a new temporary file)."""


@dataclass(frozen=True)
class SendChecksum:
    """Send the ``checksum`` session-info of what was sent."""


@dataclass(frozen=True)
class SendReceived:
    """Send the ``received`` session-info."""


@dataclass(frozen=True)
class StartTimer:
    timer: Timer
    seconds: float


@dataclass(frozen=True)
class StopTimer:
    timer: Timer


@dataclass(frozen=True)
class CommitFile:
    """Make the temporary file the destination; report :class:`FileCommitted` or
    :class:`Failed`."""


@dataclass(frozen=True)
class DiscardFile:
    """Delete the temporary file, if there is one."""


@dataclass(frozen=True)
class CloseTransport:
    """Stop streaming and release every transport, socket and task of this content."""


@dataclass(frozen=True)
class Terminate:
    """Send session-terminate with ``reason``."""

    reason: Reason
    text: str | None = None


@dataclass(frozen=True)
class Finish:
    """The transfer's one outcome: success (``error`` is None) or failure."""

    error: JetError | None = None
    hash_verified: bool = False


Command = (
    SendAccept
    | OpenTransport
    | ReplaceTransport
    | AnswerReplace
    | StartStreaming
    | SendChecksum
    | SendReceived
    | StartTimer
    | StopTimer
    | CommitFile
    | DiscardFile
    | CloseTransport
    | Terminate
    | Finish
)


def session_ended(reason: JingleReason, by_peer: bool = True) -> TransferError:
    """The exception for a session that ended before the transfer completed."""
    text = f": {reason.text}" if reason.text else ""
    who = "the peer ended the session" if by_peer else "the session ended"
    message = f"{who} ({reason.condition.value}{text})"
    if reason.condition is Reason.DECLINE:
        return TransferDeclined(message)
    if reason.condition is Reason.CANCEL:
        return TransferCancelled(message)
    return TransferError(message, reason=reason.condition)


class FileTransferProtocol:
    """One content's transfer, seen from one party; feed it events with :meth:`handle`.

    ``transports`` are the namespaces we support, best first; ``current`` the one in use.
    ``expected_hashes`` (receiver) come from the offer; with ``checksum_announced`` and none
    given, the receiver waits for the sender's checksum before committing. For an encrypted
    file the GCM tag already authenticated the content, so a mismatching hash (Conversations
    hashes the ciphertext) only leaves ``hash_verified`` false instead of refusing the file.
    """

    def __init__(
        self,
        *,
        initiator: bool,
        sending: bool,
        transports: Sequence[str],
        current: str,
        timeouts: Timeouts,
        encrypted: bool = False,
        expected_hashes: Mapping[str, bytes] | None = None,
        checksum_announced: bool = False,
    ) -> None:
        if current not in transports:
            raise ValueError(f"transport {current!r} is not among {list(transports)}")
        self.initiator = initiator
        self.sending = sending
        self.transports = tuple(transports)
        self.current = current
        self.timeouts = timeouts
        self.encrypted = encrypted
        self.expected_hashes: dict[str, bytes] = dict(expected_hashes or {})
        self.checksum_announced = checksum_announced
        self.phase = Phase.NEW
        self.hash_verified = False
        self._running: set[Timer] = set()
        self._last_progress = 0.0
        self._replacing: str | None = None
        self._digests: dict[str, bytes] = {}
        self._ended_while_committing: SessionEnded | None = None

    @property
    def ended(self) -> bool:
        return self.phase is Phase.ENDED

    def handle(self, event: Event) -> list[Command]:
        """Apply ``event``; return what the driver must do, in order."""
        if self.phase is Phase.ENDED:
            return []
        handler = _HANDLERS.get((self.phase, type(event))) or _ANY_PHASE.get(type(event))
        if handler is None:
            return []
        return handler(self, event)

    # -- starting -------------------------------------------------------------------------

    def _start(self, event: Start) -> list[Command]:
        if self.initiator:
            self.phase = Phase.AWAITING_ACCEPT
            return self._timer(Timer.ACCEPT, self.timeouts.accept)
        return [SendAccept(), *self._connect(event.now)]

    def _accepted(self, event: SessionAccepted) -> list[Command]:
        if event.hashes:
            self.expected_hashes = dict(event.hashes)
        self.checksum_announced = self.checksum_announced or event.checksum_announced
        return [*self._stop(Timer.ACCEPT), *self._connect(event.now)]

    def _connect(self, now: float) -> list[Command]:
        self.phase = Phase.CONNECTING
        self._last_progress = now
        return [OpenTransport(), *self._timer(Timer.IDLE, self.timeouts.idle)]

    # -- transports -----------------------------------------------------------------------

    def _transport_ready(self, event: TransportReady) -> list[Command]:
        self.phase = Phase.STREAMING
        return [StartStreaming()]

    def _transport_failed(self, event: TransportFailed) -> list[Command]:
        self.phase = Phase.REPLACING
        if not self.initiator:
            return self._timer(Timer.REPLACE, self.timeouts.replace)
        later = self.transports[self.transports.index(self.current) + 1 :]
        if not later:
            return self._end(event.error.reason, str(event.error))
        self._replacing = later[0]
        return [ReplaceTransport(later[0]), *self._timer(Timer.REPLACE, self.timeouts.replace)]

    def _replace_offered(self, event: ReplaceOffered) -> list[Command]:
        if self._replacing is not None or event.namespace not in self.transports:
            return [AnswerReplace(accept=False)]
        self.current = event.namespace
        self.phase = Phase.CONNECTING
        return [*self._stop(Timer.REPLACE), AnswerReplace(accept=True), OpenTransport()]

    def _replace_answered(self, event: ReplaceAnswered) -> list[Command]:
        if self._replacing is None:
            return []
        if not event.accepted:
            return self._end(Reason.FAILED_TRANSPORT, "the peer rejected the fallback transport")
        self.current, self._replacing = self._replacing, None
        self.phase = Phase.CONNECTING
        return [*self._stop(Timer.REPLACE), OpenTransport()]

    # -- streaming ------------------------------------------------------------------------

    def _bytes_moved(self, event: BytesMoved) -> list[Command]:
        self._last_progress = event.now
        return []

    def _stream_finished(self, event: StreamFinished) -> list[Command]:
        stop_idle = self._stop(Timer.IDLE)
        if self.sending:
            self.phase = Phase.AWAITING_VERDICT
            return [*stop_idle, SendChecksum(), *self._timer(Timer.VERDICT, self.timeouts.verdict)]
        self._digests = dict(event.digests)
        if not self.expected_hashes and self.checksum_announced:
            self.phase = Phase.AWAITING_CHECKSUM
            return [*stop_idle, *self._timer(Timer.CHECKSUM, self.timeouts.checksum)]
        return [*stop_idle, *self._verify()]

    def _checksum(self, event: ChecksumReceived) -> list[Command]:
        if self.sending or self.expected_hashes:
            return []
        self.expected_hashes = dict(event.hashes)
        if self.phase is not Phase.AWAITING_CHECKSUM:
            return []
        return [*self._stop(Timer.CHECKSUM), *self._verify()]

    def _verify(self) -> list[Command]:
        """Compare the digests with what the sender announced, then commit or refuse."""
        comparable = [algo for algo in self.expected_hashes if algo in self._digests]
        matches = bool(comparable) and all(
            hmac.compare_digest(self._digests[algo], self.expected_hashes[algo])
            for algo in comparable
        )
        if comparable and not matches and not self.encrypted:
            return self._end(
                Reason.MEDIA_ERROR, "the file's hash does not match the sender's checksum"
            )
        self.hash_verified = matches
        self.phase = Phase.COMMITTING
        return [CommitFile()]

    def _committed(self, event: FileCommitted) -> list[Command]:
        done = Finish(hash_verified=self.hash_verified)
        if self._ended_while_committing is not None:
            return self._finish(None, done)
        return [SendReceived(), *self._finish(Terminate(Reason.SUCCESS), done)]

    def _end_after_commit(self, event: SessionEnded | LocalCancel) -> list[Command]:
        """The file is verified and being committed: the transfer has in fact completed, so
        the peer's end or a cancel waits for the commit's outcome."""
        if isinstance(event, SessionEnded):
            self._ended_while_committing = event
        return []

    # -- ends -----------------------------------------------------------------------------

    def _timer_fired(self, event: TimerFired) -> list[Command]:
        if event.timer not in self._running:
            return []
        self._running.discard(event.timer)
        if event.timer is Timer.IDLE:
            idle = self.timeouts.idle or 0.0
            quiet = event.now - self._last_progress
            if quiet < idle:
                return self._timer(Timer.IDLE, idle - quiet)
            return self._end(Reason.TIMEOUT, f"no data moved for {idle:g} seconds")
        if event.timer is Timer.CHECKSUM:
            return self._verify()
        return self._end(Reason.TIMEOUT, _TIMEOUT_TEXT[event.timer])

    def _cancel(self, event: LocalCancel) -> list[Command]:
        cancelled = TransferCancelled("the transfer was cancelled")
        return self._finish(Terminate(Reason.CANCEL, "cancelled"), Finish(cancelled))

    def _failed(self, event: Failed) -> list[Command]:
        return self._end(event.error.reason, str(event.error), event.error)

    def _session_ended(self, event: SessionEnded) -> list[Command]:
        if self.phase is Phase.AWAITING_VERDICT and event.reason.condition is Reason.SUCCESS:
            return self._finish(None, Finish(hash_verified=True))
        return self._finish(None, Finish(session_ended(event.reason, event.by_peer)))

    def _end(self, reason: Reason, text: str, error: JetError | None = None) -> list[Command]:
        """A failure on our side: tell the peer why (unless it already ended), report it."""
        failure = error if error is not None else TransferError(text, reason=reason)
        gone = self._ended_while_committing is not None
        return self._finish(None if gone else Terminate(reason, text), Finish(failure))

    def _finish(self, terminate: Terminate | None, finish: Finish) -> list[Command]:
        self.phase = Phase.ENDED
        return [*self._wind_down(terminate), finish]

    def _wind_down(self, terminate: Terminate | None) -> list[Command]:
        """Stop every timer, tell the peer (before the transport goes, so that it learns why
        rather than seeing the stream break), close the transport, drop an uncommitted file."""
        commands: list[Command] = [StopTimer(timer) for timer in sorted(self._running, key=_key)]
        self._running.clear()
        if terminate is not None:
            commands.append(terminate)
        commands.append(CloseTransport())
        committed = terminate is not None and terminate.reason is Reason.SUCCESS
        if not self.sending and not committed:
            commands.append(DiscardFile())
        return commands

    # -- timers ---------------------------------------------------------------------------

    def _timer(self, timer: Timer, seconds: float | None) -> list[Command]:
        if seconds is None:
            return []
        self._running.add(timer)
        return [StartTimer(timer, seconds)]

    def _stop(self, timer: Timer) -> list[Command]:
        if timer not in self._running:
            return []
        self._running.discard(timer)
        return [StopTimer(timer)]


def _key(timer: Timer) -> str:
    return timer.value


_TIMEOUT_TEXT = {
    Timer.ACCEPT: "the peer did not accept in time",
    Timer.REPLACE: "the fallback transport was not negotiated in time",
    Timer.VERDICT: "the receiver did not confirm the transfer",
}

Handler = Callable[[FileTransferProtocol, Any], list[Command]]
"""A method of the protocol taking one kind of event."""
_P = FileTransferProtocol
_SETTING_UP = (Phase.CONNECTING, Phase.REPLACING)
_LIVE = tuple(phase for phase in Phase if phase is not Phase.ENDED)

_HANDLERS: dict[tuple[Phase, type], Handler] = {
    (Phase.NEW, Start): _P._start,
    (Phase.AWAITING_ACCEPT, SessionAccepted): _P._accepted,
    (Phase.CONNECTING, TransportReady): _P._transport_ready,
    (Phase.CONNECTING, TransportFailed): _P._transport_failed,
    **{(p, ReplaceOffered): _P._replace_offered for p in _SETTING_UP},
    (Phase.REPLACING, ReplaceAnswered): _P._replace_answered,
    **{(p, BytesMoved): _P._bytes_moved for p in (*_SETTING_UP, Phase.STREAMING)},
    (Phase.STREAMING, StreamFinished): _P._stream_finished,
    (Phase.COMMITTING, FileCommitted): _P._committed,
    (Phase.COMMITTING, SessionEnded): _P._end_after_commit,
    (Phase.COMMITTING, LocalCancel): _P._end_after_commit,
}
"""(phase, event type) -> handler; an event not listed for its phase (nor below) is ignored."""

_ANY_PHASE: dict[type, Handler] = {
    ChecksumReceived: _P._checksum,
    TimerFired: _P._timer_fired,
    LocalCancel: _P._cancel,
    Failed: _P._failed,
    SessionEnded: _P._session_ended,
}
"""Events that mean the same in every phase before the end."""
