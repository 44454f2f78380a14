"""The nominated SOCKS5 connection as one end of a one-way stream: a sink or a source."""

from __future__ import annotations

import contextlib
import socket

from ...errors import TransportError
from ..base import DEFAULT_CHUNK, ByteSink, ByteSource
from .socks5 import Connection

LOW_WATER = 64 * 1024
"""The fewest bytes a read waits for, unless it asks for fewer or the stream ends."""
_RCVLOWAT = getattr(socket, "SO_RCVLOWAT", None)


def _broke(error: OSError, during: str = "") -> TransportError:
    return TransportError(f"the SOCKS5 stream broke{during}: {error.strerror or error}")


class SocketSink(ByteSink):
    """Our data to the peer over one TCP connection.

    :meth:`finish` ends with EOF: Prosody's proxy65 holds back the last bytes of a transfer
    until the sender's side of the connection is shut.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._closed = False

    async def write(self, data: bytes) -> None:
        if self._closed:
            raise TransportError("the SOCKS5 stream is closed")
        writer = self._connection.writer
        try:
            writer.write(data)
            await writer.drain()
        except OSError as error:
            raise _broke(error) from error

    async def finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        writer = self._connection.writer
        try:
            if not writer.is_closing():
                await writer.drain()
                writer.write_eof()
            writer.close()
            await writer.wait_closed()
        except OSError as error:
            self._connection.abort()
            raise _broke(error, " while closing") from error

    def abort(self) -> None:
        self._closed = True
        self._connection.abort()


class SocketSource(ByteSource):
    """The peer's data to us over one TCP connection; ``b""`` at the peer's EOF.

    A read waits until ``min(max_bytes, LOW_WATER)`` bytes are there (or the EOF): the kernel
    wakes us only then (``SO_RCVLOWAT``), so data that trickles in, such as Prosody's proxy65
    relaying 4 KiB per turn of its loop, is taken in a few large reads rather than thousands
    of small ones. The receiver asks for no more than it still expects, so it never waits for
    bytes that will not come.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._aborted = False
        self._low_water = 1

    async def read(self, max_bytes: int = DEFAULT_CHUNK) -> bytes:
        if self._aborted:
            raise TransportError("the SOCKS5 stream was aborted")
        self._wake_at(min(max(max_bytes, 1), LOW_WATER))
        try:
            return await self._connection.reader.read(max_bytes)
        except OSError as error:
            raise _broke(error) from error

    def _wake_at(self, count: int) -> None:
        if count == self._low_water or _RCVLOWAT is None:
            return
        self._low_water = count
        sock = self._connection.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # closed, or not supported: wake at every byte
                sock.setsockopt(socket.SOL_SOCKET, _RCVLOWAT, count)

    def abort(self) -> None:
        self._aborted = True
        self._connection.abort()
