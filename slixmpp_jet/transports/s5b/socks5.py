"""SOCKS5 as XEP-0065 uses it: no authentication, CONNECT to a domain name, port 0.

A small codec over byte strings of known length (RFC 1928 §3-6) and the two asyncio
handshakes built on it: :func:`connect` (we are the client: a peer's listener or a proxy)
and :func:`accept` (we are the server: our own listener). Messages are read with
``readexactly``, so replies split over segments, or followed at once by data, are fine.
Anything else a peer sends wrong raises :class:`~slixmpp_jet.errors.TransportError`.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import TransportError

VERSION = 5
NO_AUTHENTICATION = 0x00
NO_ACCEPTABLE_METHOD = 0xFF
CONNECT = 1
RESERVED = 0
READ_BUFFER = 512 * 1024
"""The stream reader's limit: it stops reading the socket past twice this. asyncio's 64 KiB
made the receiver pause and resume the socket every other read at full speed."""


@enum.unique
class AddressType(enum.IntEnum):
    """ATYP: how DST.ADDR / BND.ADDR is written."""

    IPV4 = 1
    DOMAIN = 3
    IPV6 = 4


@enum.unique
class Reply(enum.IntEnum):
    """REP: the server's answer to a request (RFC 1928 §6)."""

    SUCCEEDED = 0
    GENERAL_FAILURE = 1
    NOT_ALLOWED = 2
    NETWORK_UNREACHABLE = 3
    HOST_UNREACHABLE = 4
    CONNECTION_REFUSED = 5
    TTL_EXPIRED = 6
    COMMAND_NOT_SUPPORTED = 7
    ADDRESS_TYPE_NOT_SUPPORTED = 8


def describe_reply(code: int) -> str:
    """A readable name for a REP value, also for codes RFC 1928 leaves unassigned."""
    try:
        return Reply(code).name.lower().replace("_", " ")
    except ValueError:
        return f"unassigned reply code {code}"


@dataclass(frozen=True)
class Connection:
    """Both halves of one TCP connection whose SOCKS5 handshake is done."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def abort(self) -> None:
        """Drop the connection at once (nothing to do once it is closed or closing)."""
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()


# --- codec -------------------------------------------------------------------------------


def encode_greeting() -> bytes:
    """The client's greeting: version 5, one method, no authentication."""
    return bytes([VERSION, 1, NO_AUTHENTICATION])


def decode_greeting_head(head: bytes) -> int:
    """The number of methods the client offers, from the greeting's first two bytes."""
    _check_version(head[0], "greeting")
    if head[1] == 0:
        raise TransportError("the SOCKS5 greeting offers no authentication method")
    return head[1]


def encode_method_choice(method: int) -> bytes:
    """The server's answer to the greeting."""
    return bytes([VERSION, method])


def decode_method_choice(choice: bytes) -> None:
    """Check that the server chose 'no authentication'."""
    _check_version(choice[0], "method selection")
    if choice[1] == NO_ACCEPTABLE_METHOD:
        raise TransportError("the SOCKS5 server accepts no method we offered (no authentication)")
    if choice[1] != NO_AUTHENTICATION:
        raise TransportError(f"the SOCKS5 server chose method {choice[1]}, not 'no authentication'")


def encode_request(dstaddr: str) -> bytes:
    """CONNECT to the domain ``dstaddr``, port 0 (XEP-0065 §5.3.2)."""
    return _encode_message(CONNECT, dstaddr)


def encode_reply(reply: Reply, address: str) -> bytes:
    """The server's reply; on success ``address`` echoes DST.ADDR."""
    return _encode_message(reply, address)


def decode_message_head(head: bytes, what: str) -> tuple[int, AddressType]:
    """``(CMD or REP, ATYP)`` from the first four bytes of a request or reply."""
    _check_version(head[0], what)
    if head[2] != RESERVED:
        raise TransportError(f"the SOCKS5 {what} has a non-zero reserved byte")
    try:
        return head[1], AddressType(head[3])
    except ValueError:
        raise TransportError(f"the SOCKS5 {what} has unknown address type {head[3]}") from None


def _encode_message(code: int, address: str) -> bytes:
    raw = address.encode("ascii")
    if len(raw) > 0xFF:
        raise ValueError("a SOCKS5 domain name is at most 255 bytes")
    return bytes([VERSION, code, RESERVED, AddressType.DOMAIN, len(raw)]) + raw + b"\0\0"


def _check_version(version: int, what: str) -> None:
    if version != VERSION:
        raise TransportError(f"the SOCKS5 {what} has version {version}, expected 5")


# --- handshakes --------------------------------------------------------------------------


async def connect(host: str, port: int, dstaddr: str, timeout: float) -> Connection:
    """Connect to the SOCKS5 server at ``host:port`` and request ``dstaddr``.

    Returns once the server confirmed the same ``dstaddr``; raises TransportError naming
    the server and the problem otherwise (including after ``timeout`` seconds).
    """
    where = f"SOCKS5 server {host}:{port}"
    connection: Connection | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, limit=READ_BUFFER)
            connection = Connection(reader, writer)
            await _request(connection, dstaddr)
            return connection
    except _HANDSHAKE_FAILURES as error:
        if connection is not None:
            connection.abort()
        raise _explained(error, where, timeout) from error
    except BaseException:
        if connection is not None:
            connection.abort()
        raise


async def accept(connection: Connection, is_acceptable: Callable[[str], bool]) -> str:
    """Serve the handshake of an incoming connection; returns the DST.ADDR it asked for.

    Only an acceptable DST.ADDR gets a success reply. The caller closes the connection
    when this raises.
    """
    try:
        return await _serve(connection, is_acceptable)
    except _HANDSHAKE_FAILURES as error:
        raise _explained(error, "SOCKS5 client", None) from error


async def _request(connection: Connection, dstaddr: str) -> None:
    reader, writer = connection.reader, connection.writer
    writer.write(encode_greeting())
    decode_method_choice(await reader.readexactly(2))
    writer.write(encode_request(dstaddr))
    reply, address_type = decode_message_head(await reader.readexactly(4), "reply")
    if reply != Reply.SUCCEEDED:
        raise TransportError(f"the SOCKS5 server refused: {describe_reply(reply)}")
    address = await _read_address(reader, address_type)
    await reader.readexactly(2)  # BND.PORT carries no meaning for XEP-0065
    if address != dstaddr:
        raise TransportError(f"the SOCKS5 reply names address {address!r}, not {dstaddr!r}")


async def _serve(connection: Connection, is_acceptable: Callable[[str], bool]) -> str:
    reader, writer = connection.reader, connection.writer
    methods = await reader.readexactly(decode_greeting_head(await reader.readexactly(2)))
    if NO_AUTHENTICATION not in methods:
        writer.write(encode_method_choice(NO_ACCEPTABLE_METHOD))
        raise TransportError("the SOCKS5 client does not offer 'no authentication'")
    writer.write(encode_method_choice(NO_AUTHENTICATION))
    command, address_type = decode_message_head(await reader.readexactly(4), "request")
    if command != CONNECT:
        writer.write(encode_reply(Reply.COMMAND_NOT_SUPPORTED, ""))
        raise TransportError(f"the SOCKS5 client sent command {command}, only CONNECT is served")
    if address_type != AddressType.DOMAIN:
        writer.write(encode_reply(Reply.ADDRESS_TYPE_NOT_SUPPORTED, ""))
        raise TransportError("the SOCKS5 client asked for an IP address, not a DST.ADDR hash")
    address = await _read_address(reader, address_type)
    await reader.readexactly(2)  # DST.PORT is 0 in XEP-0065 and means nothing
    if not is_acceptable(address):
        writer.write(encode_reply(Reply.NOT_ALLOWED, ""))
        raise TransportError(f"the SOCKS5 client asked for unknown DST.ADDR {address!r}")
    writer.write(encode_reply(Reply.SUCCEEDED, address))
    return address


async def _read_address(reader: asyncio.StreamReader, address_type: AddressType) -> str:
    if address_type == AddressType.IPV4:
        return str(ipaddress.IPv4Address(await reader.readexactly(4)))
    if address_type == AddressType.IPV6:
        return str(ipaddress.IPv6Address(await reader.readexactly(16)))
    raw = await reader.readexactly((await reader.readexactly(1))[0])
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise TransportError("the SOCKS5 address is not ASCII") from None


_HANDSHAKE_FAILURES = (TransportError, OSError, asyncio.IncompleteReadError)
"""What a handshake raises when the peer or the network fails (TimeoutError is an OSError)."""


def _explained(error: Exception, where: str, timeout: float | None) -> TransportError:
    """``error`` as a TransportError that says where and what went wrong."""
    if isinstance(error, asyncio.IncompleteReadError):
        return TransportError(
            f"{where}: connection closed in the middle of the SOCKS5 handshake "
            f"(got {len(error.partial)} of {error.expected} bytes)"
        )
    if isinstance(error, TimeoutError):
        limit = "" if timeout is None else f" within {timeout:g} s"
        return TransportError(f"{where}: no complete SOCKS5 handshake{limit}")
    if isinstance(error, OSError):
        return TransportError(f"{where}: {error.strerror or error}")
    return TransportError(f"{where}: {error}")
