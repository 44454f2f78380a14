"""The nominated SOCKS5 connection as one end of a one-way stream: a sink or a source."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any

from ...errors import TransportError
from ..base import DEFAULT_CHUNK, BlockingReader, BlockingWriter, ByteSink, ByteSource
from .socks5 import Connection

LOW_WATER = 64 * 1024
"""The fewest bytes a read waits for, unless it asks for fewer or the stream ends."""
_RCVLOWAT = getattr(socket, "SO_RCVLOWAT", None)
THREAD_POLL_SECONDS = 1.0
"""How long a worker thread's blocking call waits before it looks whether it was aborted
(an abort also shuts the socket down, which wakes it at once)."""


def _broke(error: OSError, during: str = "") -> TransportError:
    return TransportError(f"the SOCKS5 stream broke{during}: {error.strerror or error}")


def _wake_at(sock: Any, count: int) -> None:
    """Have the kernel report ``sock`` readable only once ``count`` bytes (or the end) are in."""
    if _RCVLOWAT is not None and sock is not None:
        with contextlib.suppress(OSError):  # closed, or not supported: wake at every byte
            sock.setsockopt(socket.SOL_SOCKET, _RCVLOWAT, count)


class _LowWater:
    """The wake-up mark for each read: ``min(max_bytes, LOW_WATER)``, passed to ``set_mark``
    only when it changes (one system call per change, not per read)."""

    def __init__(self, set_mark: Callable[[int], None]) -> None:
        self._set_mark = set_mark
        self._count = 1

    def before_read(self, max_bytes: int) -> None:
        count = min(max(max_bytes, 1), LOW_WATER)
        if count != self._count:
            self._count = count
            self._set_mark(count)


class _ThreadSocket(BlockingWriter):
    """A duplicate of the connection's socket, for one worker thread's blocking calls; as it
    is, the sender's thread writes to it.

    The event loop keeps the connection: :meth:`abort` (from the loop) shuts the shared
    socket down, which ends the thread's call under way, and the thread closes only its
    duplicate.
    """

    def __init__(self, connection: Connection, duplicate: socket.socket) -> None:
        self._connection = connection
        self._loop = asyncio.get_running_loop()
        self._socket = duplicate
        self._socket.settimeout(THREAD_POLL_SECONDS)
        self.aborted = False

    def recv(self, max_bytes: int) -> bytes:
        """In the thread: the next bytes, ``b""`` at the end."""
        while True:
            self._check()
            try:
                data = self._socket.recv(max_bytes)
            except TimeoutError:
                continue
            except OSError as error:
                raise _broke(error) from error
            self._check()  # the shutdown of an abort reads as the end: it is not
            return data

    def write(self, data: bytes) -> None:
        """In the thread: all of ``data`` (one ``send`` per wait, so none is sent twice)."""
        view = memoryview(data)
        while view:
            self._check()
            try:
                view = view[self._socket.send(view) :]
            except TimeoutError:
                continue
            except OSError as error:
                raise _broke(error) from error

    def set_low_water(self, count: int) -> None:
        _wake_at(self._socket, count)

    def close(self) -> None:
        """In the thread, once it is done: the duplicate only."""
        self._socket.close()

    def abort(self) -> None:
        """From the loop, before the connection is aborted: end the thread's calls (the
        duplicate would keep the socket open past the connection's own close)."""
        self.aborted = True
        with contextlib.suppress(OSError):  # already closed by the loop: nothing to wake
            self._connection.writer.get_extra_info("socket").shutdown(socket.SHUT_RDWR)

    def _check(self) -> None:
        if self.aborted:
            raise TransportError("the SOCKS5 stream was aborted")
        if self._loop.is_closed():  # the program is ending: nobody is left to abort us
            raise TransportError("the SOCKS5 stream was left behind by its event loop")


def _thread_socket(connection: Connection) -> _ThreadSocket | None:
    """A socket for a worker thread, or None when the connection is gone already (or no
    descriptor is left to duplicate it: the event loop carries on then)."""
    original = connection.writer.get_extra_info("socket")
    if connection.writer.transport.is_closing() or original is None:
        return None
    try:
        duplicate: socket.socket = original.dup()
    except OSError:
        return None
    return _ThreadSocket(connection, duplicate)


class SocketSink(ByteSink):
    """Our data to the peer over one TCP connection.

    :meth:`finish` ends with EOF: Prosody's proxy65 holds back the last bytes of a transfer
    until the sender's side of the connection is shut.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._closed = False
        self._thread: _ThreadSocket | None = None

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
        if self._thread is not None:
            self._thread.abort()
        self._connection.abort()

    async def blocking_writer(self) -> BlockingWriter | None:
        if self._closed:
            raise TransportError("the SOCKS5 stream is closed")
        try:
            await self._connection.writer.drain()  # the thread starts on an empty buffer
        except OSError as error:
            raise _broke(error) from error
        self._thread = _thread_socket(self._connection)
        return self._thread


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
        self._low_water = _LowWater(self._wake_at)
        self._thread: _ThreadSocket | None = None

    async def read(self, max_bytes: int = DEFAULT_CHUNK) -> bytes:
        if self._aborted or self._thread is not None:
            raise TransportError("the SOCKS5 stream was aborted or handed to a thread")
        self._low_water.before_read(max_bytes)
        try:
            return await self._connection.reader.read(max_bytes)
        except OSError as error:
            raise _broke(error) from error

    def _wake_at(self, count: int) -> None:
        _wake_at(self._connection.writer.get_extra_info("socket"), count)

    def abort(self) -> None:
        self._aborted = True
        if self._thread is not None:
            self._thread.abort()
        self._connection.abort()

    async def blocking_reader(self) -> BlockingReader | None:
        """The thread takes over from asyncio: reading stops on the loop, and what asyncio
        had already buffered is handed over first. None where that buffer is out of reach,
        or the stream is over or broken (then :meth:`read` reports it)."""
        if self._aborted:
            raise TransportError("the SOCKS5 stream was aborted")
        reader, transport = self._connection.reader, self._connection.writer.transport
        buffered = vars(reader).get("_buffer")  # asyncio keeps no public way to take it
        if (
            not isinstance(buffered, bytearray)
            or not isinstance(transport, asyncio.ReadTransport)
            or reader.exception() is not None
        ):
            return None
        thread_socket = _thread_socket(self._connection)
        if thread_socket is None:
            return None
        transport.pause_reading()
        self._thread = thread_socket
        taken = bytes(buffered)
        buffered.clear()
        return _ThreadReader(thread_socket, taken)


class _ThreadReader(BlockingReader):
    """Reads in a worker thread from the nominated connection; what asyncio had buffered
    comes first. Waits as :meth:`SocketSource.read` does (``SO_RCVLOWAT``)."""

    def __init__(self, thread_socket: _ThreadSocket, buffered: bytes) -> None:
        self._socket = thread_socket
        self._buffered = buffered
        self._low_water = _LowWater(thread_socket.set_low_water)

    def read(self, max_bytes: int) -> bytes:
        if self._buffered:
            data, self._buffered = self._buffered[:max_bytes], self._buffered[max_bytes:]
            return data
        self._low_water.before_read(max_bytes)
        return self._socket.recv(max_bytes)

    def close(self) -> None:
        self._socket.close()
