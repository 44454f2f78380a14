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
from dataclasses import dataclass
from typing import Any

from ..errors import JetError, Reason, TransferCancelled, TransferDeclined, TransferError
from ..jingle.stanza import JingleReason
from .events import (
    AnswerReplace,
    BytesMoved,
    ChecksumReceived,
    CloseTransport,
    Command,
    CommitFile,
    DiscardFile,
    Event,
    Failed,
    FileCommitted,
    Finish,
    LocalCancel,
    OpenTransport,
    ReplaceAnswered,
    ReplaceOffered,
    ReplaceTransport,
    SendAccept,
    SendChecksum,
    SendReceived,
    SessionAccepted,
    SessionEnded,
    Start,
    StartStreaming,
    StartTimer,
    StopTimer,
    StreamFinished,
    Terminate,
    Timer,
    TimerFired,
    TransportFailed,
    TransportReady,
)


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


@dataclass(frozen=True)
class Timeouts:
    """Seconds for each timer; ``None`` waits for ever."""

    accept: float | None = None
    idle: float | None = 60.0
    replace: float = 30.0
    checksum: float = 10.0
    verdict: float = 60.0


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
    given, the receiver of a plaintext file waits for the sender's checksum before committing.
    For an encrypted file the GCM tag already authenticated the content: the receiver waits for
    no checksum, and a mismatching hash (Conversations hashes the ciphertext) only leaves
    ``hash_verified`` false instead of refusing the file.
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
        setting_up = self.phase in _SETTING_UP
        if not setting_up or self._replacing is not None or event.namespace not in self.transports:
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
            # An encrypted file's GCM tag authenticates it; a plaintext hash sent in the clear
            # would only tell every server on the path which known file this is.
            checksum: list[Command] = [] if self.encrypted else [SendChecksum()]
            self.phase = Phase.AWAITING_VERDICT
            return [*stop_idle, *checksum, *self._timer(Timer.VERDICT, self.timeouts.verdict)]
        self._digests = dict(event.digests)
        if not self.expected_hashes and self.checksum_announced and not self.encrypted:
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
        if event.timer is Timer.REPLACE:
            return self._end(Reason.FAILED_TRANSPORT, "no fallback transport was agreed in time")
        return self._end(Reason.TIMEOUT, _TIMEOUT_TEXT[event.timer])

    def _cancel(self, event: LocalCancel) -> list[Command]:
        cancelled = TransferCancelled("the transfer was cancelled")
        return self._finish(Terminate(Reason.CANCEL, "cancelled"), Finish(cancelled))

    def _failed(self, event: Failed) -> list[Command]:
        return self._end(event.error.reason, str(event.error), event.error)

    def _session_ended(self, event: SessionEnded) -> list[Command]:
        # The receiver's <success/> is the verdict, even if it comes while our end of the
        # stream is still being finished (it counts bytes and needs no EOF).
        confirmed = self.sending and self.phase in (Phase.STREAMING, Phase.AWAITING_VERDICT)
        if confirmed and event.reason.condition is Reason.SUCCESS:
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
    (Phase.REPLACING, ReplaceAnswered): _P._replace_answered,
    **{(p, BytesMoved): _P._bytes_moved for p in (*_SETTING_UP, Phase.STREAMING)},
    (Phase.STREAMING, StreamFinished): _P._stream_finished,
    (Phase.COMMITTING, FileCommitted): _P._committed,
    (Phase.COMMITTING, SessionEnded): _P._end_after_commit,
    (Phase.COMMITTING, LocalCancel): _P._end_after_commit,
}
"""(phase, event type) -> handler; an event not listed for its phase (nor below) is ignored."""

_ANY_PHASE: dict[type, Handler] = {
    ReplaceOffered: _P._replace_offered,
    ChecksumReceived: _P._checksum,
    TimerFired: _P._timer_fired,
    LocalCancel: _P._cancel,
    Failed: _P._failed,
    SessionEnded: _P._session_ended,
}
"""Events that mean the same in every phase before the end."""
