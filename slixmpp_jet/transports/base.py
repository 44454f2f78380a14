"""The one-way byte streams every transport provides, and the transport contract.

File transfer and the cipher layer only ever see a :class:`ByteSink` (the sender's end) or a
:class:`ByteSource` (the receiver's end). A transport plugin (``xep_0260`` SOCKS5, ``xep_0261``
IBB) implements :class:`TransportMethod`; for every Jingle content it creates a
:class:`TransportSession` that negotiates through the Jingle session (via
:class:`TransportContext`) and finally yields the end of the stream that is ours.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol
from xml.etree import ElementTree as ET

from ..errors import TransportError

DEFAULT_CHUNK = 64 * 1024


class BlockingReader(Protocol):
    """A stream's receiving end handed to one worker thread, which reads it with blocking calls.

    Raises :class:`~slixmpp_jet.errors.TransportError` once the stream broke or was aborted
    (from the event loop, by the end it came from), within a second of the abort at most.
    """

    def read(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` bytes, waiting for at least one; ``b""`` at the peer's end."""
        ...

    def close(self) -> None:
        """Release what the thread held; the stream itself stays with the end it came from."""
        ...


class BlockingWriter(Protocol):
    """A stream's sending end handed to one worker thread, which writes it with blocking calls.

    Raises :class:`~slixmpp_jet.errors.TransportError` as :class:`BlockingReader` does.
    """

    def write(self, data: bytes) -> None:
        """Send all of ``data``, waiting while the peer is not taking it."""
        ...

    def close(self) -> None:
        """Release what the thread held; ``finish`` is still the job of the end it came from."""
        ...


class ByteSource(abc.ABC):
    """The receiver's end of an ordered, reliable one-way byte stream."""

    @abc.abstractmethod
    async def read(self, max_bytes: int = DEFAULT_CHUNK) -> bytes:
        """Return up to ``max_bytes`` bytes; ``b""`` once the peer has ended the stream.

        Raises :class:`~slixmpp_jet.errors.TransportError` if the stream broke or was aborted.
        """

    @abc.abstractmethod
    def abort(self) -> None:
        """Tear the stream down at once. Safe to call more than once."""

    async def blocking_reader(self) -> BlockingReader | None:
        """The rest of this stream for a worker thread to read, or None where only
        :meth:`read` can; after a reader is returned, only :meth:`abort` may be called."""
        return None  # most streams live on the event loop only


class ByteSink(abc.ABC):
    """The sender's end of an ordered, reliable one-way byte stream."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Send ``data``, waiting while the transport applies back-pressure."""

    @abc.abstractmethod
    async def finish(self) -> None:
        """Flush, then signal the end of the data (EOF, IBB ``<close/>``). Idempotent."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Tear the stream down at once, without flushing. Safe to call more than once."""

    async def blocking_writer(self) -> BlockingWriter | None:
        """A writer for a worker thread, or None where only :meth:`write` can send; once the
        thread's writes are done (and the writer closed), :meth:`write` and :meth:`finish`
        carry on from there."""
        return None  # most streams live on the event loop only


def expect_sink(end: ByteSource | ByteSink) -> ByteSink:
    """``end`` as the sending end; a TransportError if the transport gave the receiving one."""
    if not isinstance(end, ByteSink):
        raise TransportError(f"the sender got a receiving end ({type(end).__name__})")
    return end


def expect_source(end: ByteSource | ByteSink) -> ByteSource:
    """``end`` as the receiving end; a TransportError if the transport gave the sending one."""
    if not isinstance(end, ByteSource):
        raise TransportError(f"the receiver got a sending end ({type(end).__name__})")
    return end


SendTransportInfo = Callable[[ET.Element], Awaitable[None]]


@dataclass(frozen=True)
class TransportContext:
    """What a transport session knows about the Jingle session and content it serves."""

    sid: str
    """The Jingle session id."""
    content_name: str
    local_jid: str
    """Our full JID."""
    peer_jid: str
    """The peer's full JID."""
    initiator: bool
    """True when we are the Jingle session initiator."""
    sending: bool
    """True when we send the data of this content."""
    send_transport_info: SendTransportInfo
    """Sends a ``transport-info`` whose content carries the given ``<transport/>`` element.

    Raises ``slixmpp.exceptions.IqError``/``IqTimeout`` if the peer does not acknowledge it."""


class TransportSession(abc.ABC):
    """One transport instance for one content of one Jingle session."""

    namespace: ClassVar[str]

    @abc.abstractmethod
    def description(self) -> ET.Element:
        """Our ``<transport/>`` for session-initiate, session-accept, transport-replace/-accept."""

    @abc.abstractmethod
    def accept_remote(self, transport: ET.Element) -> None:
        """Take the peer's ``<transport/>`` (from initiate, accept, replace or transport-accept).

        Raises :class:`~slixmpp_jet.errors.ProtocolError` (``bad-request``) when malformed.
        """

    @abc.abstractmethod
    async def handle_info(self, transport: ET.Element) -> None:
        """Handle the ``<transport/>`` of a transport-info from the peer.

        Raises :class:`~slixmpp_jet.errors.ProtocolError` when it makes no sense now.
        """

    @abc.abstractmethod
    async def establish(self) -> ByteSource | ByteSink:
        """Finish negotiation and return our end of the open stream.

        That is a :class:`ByteSink` when ``context.sending``, else a :class:`ByteSource`.

        Call after both descriptions are known (ours sent, the peer's accepted). Raises
        :class:`~slixmpp_jet.errors.TransportError` when no stream can be set up.
        """

    async def description_sent(self) -> None:
        """Our ``<transport/>`` reached the peer (its IQ was acknowledged): a transport that
        trickles candidates sends them now. Must not raise; :meth:`establish` reports failures.
        """
        return None  # most transports have nothing to add

    @abc.abstractmethod
    def close(self) -> None:
        """Release everything this session holds that no stream took (listeners, sockets)."""


class TransportMethod(Protocol):
    """A transport plugin: creates transport sessions for its namespace."""

    namespace: str
    preference: int
    """Higher is tried first; IBB, the last resort, has the lowest."""

    async def create_session(
        self, context: TransportContext, remote: ET.Element | None = None
    ) -> TransportSession:
        """A new transport session; ``remote`` is the peer's offer when we respond to one."""
        ...
