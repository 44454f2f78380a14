"""The receiving side of an IBB stream: checked, ordered blocks into a bounded buffer.

Blocks are validated in arrival order (seq, base64, size) and acknowledged only when the
buffer has room, so a slow reader slows the sender. Any bad block breaks the stream: it is
answered with the matching error and every later :meth:`IbbReceiver.read` raises.
"""

from __future__ import annotations

import asyncio

from slixmpp import Iq

from ...errors import ProtocolError, TransportError
from ..base import DEFAULT_CHUNK, ByteSource
from .buffer import ReceiveBuffer
from .link import IbbLink, acknowledge, refuse
from .sequence import Sequence
from .stanza import decode_block, parse_seq
from .stream import IbbStream

MAX_UNACKED_BLOCKS = 64
"""Blocks a peer may send ahead of our acknowledgements before we call it a flood."""


class IbbReceiver(ByteSource, IbbStream):
    """Reads the peer's bytes from an open IBB session; ``b""`` after its ``<close/>``."""

    def __init__(
        self, link: IbbLink, block_size: int, buffer_bytes: int, close_timeout: float
    ) -> None:
        self._link = link
        self._block_size = block_size
        self._close_timeout = close_timeout
        self._seq = Sequence()
        self._buffer: ReceiveBuffer[Iq] = ReceiveBuffer(buffer_bytes, MAX_UNACKED_BLOCKS)
        self._arrived = asyncio.Event()
        self._failure: str | None = None
        self._peer_closed = False
        self._aborted = False

    async def read(self, max_bytes: int = DEFAULT_CHUNK) -> bytes:
        """Up to ``max_bytes`` received bytes, as soon as any are there; ``b""`` at the end."""
        while True:
            self._check_readable()
            if self._buffer.ready_bytes:
                data, admitted = self._buffer.pull(max_bytes)
                for iq in admitted:
                    acknowledge(iq)
                return data
            if self._peer_closed:
                return b""
            self._arrived.clear()
            await self._arrived.wait()

    def abort(self) -> None:
        """Stop at once, also once we have all we want; unless the peer closed the IBB session
        already, it gets a best-effort ``<close/>``."""
        if self._aborted:
            return
        self._aborted = True
        self._drop_buffer()
        if not self._peer_closed and self._failure is None:
            self._link.close_quietly(self._close_timeout)
        self._link.release()
        self._arrived.set()

    def on_data(self, iq: Iq) -> None:
        """Check the next block and buffer it; acknowledge it once there is room."""
        if self._failure is not None or self._peer_closed or self._aborted:
            refuse(iq, "item-not-found", f"IBB stream {self._link.sid} is no longer open")
            return
        payload = iq["ibb_data"].xml
        try:
            self._seq.accept(parse_seq(payload.get("seq")))
            block = decode_block(payload.text)
            if len(block) > self._block_size:
                raise ProtocolError(
                    f"IBB block of {len(block)} bytes exceeds block-size {self._block_size}"
                )
            admitted = self._buffer.push(block, iq)
        except ProtocolError as error:
            refuse(iq, error.condition, str(error))
            self._fail(str(error))
            return
        for ready in admitted:
            acknowledge(ready)
        self._arrived.set()

    def on_close(self, iq: Iq) -> None:
        """The peer has sent everything; what is buffered can still be read."""
        self._peer_closed = True
        acknowledge(iq)
        self._link.release()
        self._arrived.set()

    def _fail(self, why: str) -> None:
        """A bad block: process nothing after it and close the stream (XEP-0047 §2.2)."""
        self._failure = why
        self._drop_buffer()
        self._link.close_quietly(self._close_timeout)
        self._link.release()
        self._arrived.set()

    def _drop_buffer(self) -> None:
        for iq in self._buffer.discard():
            refuse(iq, "item-not-found", f"IBB stream {self._link.sid} was closed")

    def _check_readable(self) -> None:
        if self._failure is not None:
            raise TransportError(
                f"IBB stream {self._link.sid} from {self._link.peer_jid} broke: {self._failure}"
            )
        if self._aborted:
            raise TransportError(f"IBB stream {self._link.sid} was closed by us")
