"""What goes into the file-transfer protocol (events) and what comes out (commands).

Plain frozen values; see :mod:`.protocol` for what each event does in each phase.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import JetError, Reason
from ..jingle.stanza import JingleReason


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
