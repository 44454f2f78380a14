"""An in-memory pipe for unit tests: bytes written to its sink end are read from its source end."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable

from slixmpp_jet.errors import TransportError
from slixmpp_jet.transports.base import DEFAULT_CHUNK, ByteSink, ByteSource


class MemoryPipe(ByteSource, ByteSink):
    """One-way pipe in memory with real pipe behaviour; one object is both of its ends.

    ``data`` is already in the pipe, and ``eof`` says its writer already finished it.
    ``read`` waits for data or for ``finish``; ``segments`` caps, in turn, how many bytes each
    read returns (to mimic a network that splits the stream); ``capacity`` makes ``write``
    wait while that many bytes are unread (back-pressure).
    """

    def __init__(
        self,
        data: bytes = b"",
        *,
        eof: bool = False,
        segments: Iterable[int] = (),
        capacity: int | None = None,
    ) -> None:
        self._buffer = bytearray(data)
        self._eof = eof
        self._segments = itertools.cycle(segments) if segments else None
        self._capacity = capacity
        self._changed = asyncio.Condition()
        self.aborted = False

    @property
    def unread(self) -> bytes:
        """What nobody has read yet."""
        return bytes(self._buffer)

    @property
    def finished(self) -> bool:
        return self._eof

    async def read(self, max_bytes: int = DEFAULT_CHUNK) -> bytes:
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._buffer) or self._eof or self.aborted)
            if self.aborted:
                raise TransportError("pipe aborted")
            size = max_bytes if self._segments is None else min(max_bytes, next(self._segments))
            chunk = bytes(self._buffer[:size])
            del self._buffer[:size]
            self._changed.notify_all()
            return chunk

    async def write(self, data: bytes) -> None:
        async with self._changed:
            if self._eof or self.aborted:
                raise TransportError("write to a finished pipe")
            if self._capacity is not None:
                await self._changed.wait_for(lambda: len(self._buffer) < self._capacity)
            self._buffer += data
            self._changed.notify_all()

    async def finish(self) -> None:
        async with self._changed:
            self._eof = True
            self._changed.notify_all()

    def abort(self) -> None:
        self.aborted = True
