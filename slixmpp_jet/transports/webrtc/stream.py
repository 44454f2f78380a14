"""The two ends of a data-channel stream, on the shared :mod:`..base` interface.

The end of the data is not signalled on the channel: Conversations neither closes it nor sends a
marker after the last byte, the receiver counts bytes (file size, plus the GCM tag when
encrypted) and ends the session. So :meth:`DataChannelSink.finish` only waits until everything
was handed to SCTP; the peer connection is closed when the session ends.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from ...errors import TransportError
from ..base import DEFAULT_CHUNK, ByteSink, ByteSource

if TYPE_CHECKING:
    from .rtc import PeerLink

MAX_UNREAD = 32 * 1024 * 1024
"""The most bytes the peer may have sent that we have not read yet. A data channel has no
receive flow control in aiortc; a reader this far behind means a peer that floods."""
MESSAGE_SIZE = 64 * 1024
"""The largest message we send (less if the peer takes less)."""
HIGH_WATER = 1024 * 1024
"""Bytes queued on the channel before :meth:`DataChannelSink.write` waits."""


class Inbox:
    """What the peer's channel delivered and we have not read: bytes, then the end or an error.

    Bytes already received are read before the end or an error is seen.
    """

    def __init__(self, limit: int = MAX_UNREAD) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._limit = limit
        self._ended = False
        self._error: TransportError | None = None
        self._changed = asyncio.Event()

    def put(self, data: bytes) -> None:
        if self._ended or self._error is not None or not data:
            return
        self._size += len(data)
        if self._size > self._limit:
            self.fail(TransportError(f"the peer sent over {self._limit} bytes we did not read"))
            self._chunks.clear()
            return
        self._chunks.append(data)
        self._changed.set()

    def end(self) -> None:
        """The peer closed its channel."""
        self._ended = True
        self._changed.set()

    def fail(self, error: TransportError) -> None:
        """The connection broke (or was closed): ``error`` once the bytes before it are read."""
        if self._error is None and not self._ended:
            self._error = error
        self._changed.set()

    async def read(self, max_bytes: int) -> bytes:
        while not self._chunks:
            if self._ended:
                return b""
            if self._error is not None:
                raise self._error
            self._changed.clear()
            await self._changed.wait()
        chunk = self._chunks.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            self._chunks.appendleft(rest)
        self._size -= len(chunk)
        return chunk


class DataChannelSource(ByteSource):
    """The receiver's end: the bytes of the peer's channel."""

    def __init__(self, inbox: Inbox, link: PeerLink) -> None:
        self._inbox = inbox
        self._link = link

    async def read(self, max_bytes: int = DEFAULT_CHUNK) -> bytes:
        return await self._inbox.read(max_bytes)

    def abort(self) -> None:
        self._link.close()


class DataChannelSink(ByteSink):
    """The sender's end: our channel, in messages no larger than the peer takes."""

    def __init__(self, link: PeerLink, max_message_size: int) -> None:
        self._link = link
        self._message_size = max(1, min(MESSAGE_SIZE, max_message_size))

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        for start in range(0, len(view), self._message_size):
            await self._link.send(bytes(view[start : start + self._message_size]), HIGH_WATER)

    async def finish(self) -> None:
        await self._link.drain()

    def abort(self) -> None:
        self._link.close()
