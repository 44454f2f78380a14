"""The sending side of an IBB stream: blocks as ``<data/>`` IQs, a window of them in flight.

Waiting for every acknowledgement before the next block caps throughput at one block per
round trip; keeping ``window`` IQs in flight fills the pipe while still letting the receiver
slow us down, because it holds its acknowledgements back while its buffer is full.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from slixmpp import Iq
from slixmpp.exceptions import IqError, IqTimeout

from ...errors import TransportError
from ..base import ByteSink
from .link import IbbLink, acknowledge, refuse
from .sequence import Sequence
from .stream import IbbStream


class IbbSender(ByteSink, IbbStream):
    """Writes bytes to the peer over an open IBB session; never truncates, never reorders."""

    def __init__(self, link: IbbLink, block_size: int, window: int, ack_timeout: float) -> None:
        if block_size < 1 or window < 1:
            raise ValueError("block_size and window must be positive")
        self._link = link
        self._block_size = block_size
        self._window = window
        self._ack_timeout = ack_timeout
        self._seq = Sequence()
        self._in_flight = 0
        self._progress = asyncio.Event()
        self._serial = asyncio.Lock()
        self._failure: str | None = None
        self._closed = False
        self._peer_closed = False

    async def write(self, data: bytes) -> None:
        """Send ``data`` in block-size pieces, waiting whenever ``window`` blocks are unacked."""
        async with self._serial:
            self._check_writable()
            view = memoryview(data)
            for start in range(0, len(view), self._block_size):
                await self._wait_until(lambda: self._in_flight < self._window)
                self._check_writable()
                self._send_block(view[start : start + self._block_size])

    async def finish(self) -> None:
        """Wait until every block is acknowledged, then send ``<close/>``.

        Raises :class:`TransportError` if any block was refused or never acknowledged. A close
        of ours that crosses the peer's is fine: every block had arrived.
        """
        async with self._serial:
            if self._closed and self._failure is None:
                return
            await self._wait_until(lambda: self._in_flight == 0)
            self._check_delivered()
            self._closed = True
            try:
                if not self._peer_closed:
                    await self._link.request(self._link.close_iq(), self._ack_timeout, "the close")
            except TransportError as error:
                if not self._peer_closed:
                    self._failure = str(error)
                    raise
            finally:
                self._link.release()

    def abort(self) -> None:
        """Stop at once; the peer gets a best-effort ``<close/>``."""
        if not self._closed:
            self._fail("the stream was aborted")
        self._closed = True

    def on_data(self, iq: Iq) -> None:
        """The peer may not send on a content whose data flows towards it."""
        refuse(iq, "not-acceptable", "this IBB stream carries data the other way")

    def on_close(self, iq: Iq) -> None:
        """The peer ended the stream: blocks already acknowledged stand, no more may follow."""
        self._peer_closed = True
        acknowledge(iq)
        self._link.release()
        self._progress.set()

    def _send_block(self, block: memoryview) -> None:
        iq = self._link.data_iq(self._seq.take(), block)
        self._in_flight += 1
        future: asyncio.Future[Iq] = iq.send(timeout=self._ack_timeout)
        future.add_done_callback(self._on_ack)

    def _on_ack(self, future: asyncio.Future[Iq]) -> None:
        self._in_flight -= 1
        if future.cancelled():
            self._fail("a block was cancelled before its acknowledgement")
        elif isinstance(error := future.exception(), IqError):
            self._fail(f"the peer refused a block: {error.condition}")
        elif isinstance(error, IqTimeout):
            self._fail(f"a block was not acknowledged within {self._ack_timeout} s")
        elif error is not None:
            self._fail(f"a block could not be sent: {error}")
        self._progress.set()

    async def _wait_until(self, condition: Callable[[], bool]) -> None:
        while self._failure is None and not condition():
            self._progress.clear()
            await self._progress.wait()

    def _fail(self, why: str) -> None:
        """The first failure breaks the stream; the sender MUST then close it (XEP-0047 §2.2)."""
        if self._failure is not None:
            return
        self._failure = why
        if not self._peer_closed and not self._closed:
            self._link.close_quietly(self._ack_timeout)
        self._link.release()
        self._progress.set()

    def _check_delivered(self) -> None:
        if self._failure is not None:
            raise TransportError(
                f"IBB stream {self._link.sid} to {self._link.peer_jid} broke: {self._failure}"
            )

    def _check_writable(self) -> None:
        self._check_delivered()
        if self._peer_closed:
            raise TransportError(f"{self._link.peer_jid} closed IBB stream {self._link.sid}")
        if self._closed:
            raise TransportError(f"IBB stream {self._link.sid} is already closed")
