"""The nominated SOCKS5 connection as a one-way :class:`ByteStream`."""

from __future__ import annotations

from ...errors import TransportError
from ..base import DEFAULT_CHUNK, ByteStream
from .socks5 import Connection


class SocketStream(ByteStream):
    """Bytes over one TCP connection, in the direction the content's ``senders`` give.

    The sender ends with EOF (:meth:`close`): Prosody's proxy65 holds back the last bytes of a
    transfer until the sender's side of the connection is shut.
    """

    def __init__(self, connection: Connection, *, sending: bool) -> None:
        self._connection = connection
        self._sending = sending
        self._closed = False

    @property
    def sending(self) -> bool:
        """True when we write this stream, False when we read it."""
        return self._sending

    async def read(self, max_bytes: int = DEFAULT_CHUNK) -> bytes:
        if self._sending:
            raise TransportError("this SOCKS5 stream carries our data to the peer; it is not read")
        try:
            return await self._connection.reader.read(max_bytes)
        except OSError as error:
            raise TransportError(f"the SOCKS5 stream broke: {error.strerror or error}") from error

    async def write(self, data: bytes) -> None:
        if not self._sending:
            raise TransportError("this SOCKS5 stream carries the peer's data; it is not written")
        if self._closed:
            raise TransportError("the SOCKS5 stream is closed")
        writer = self._connection.writer
        try:
            writer.write(data)
            await writer.drain()
        except OSError as error:
            raise TransportError(f"the SOCKS5 stream broke: {error.strerror or error}") from error

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        writer = self._connection.writer
        try:
            if self._sending and not writer.is_closing():
                await writer.drain()
                writer.write_eof()
            writer.close()
            await writer.wait_closed()
        except OSError as error:
            self._connection.abort()
            raise TransportError(
                f"the SOCKS5 stream broke while closing: {error.strerror or error}"
            ) from error

    def abort(self) -> None:
        self._closed = True
        self._connection.abort()
