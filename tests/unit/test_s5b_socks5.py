"""SOCKS5 codec and handshakes against real sockets: hostile servers and hostile clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from slixmpp_jet.errors import TransportError
from slixmpp_jet.testing.prosody import free_port
from slixmpp_jet.transports.s5b import socks5
from slixmpp_jet.transports.s5b.socks5 import Connection, Reply

HASH = "972b7bf47291ca609517f67f86b5081086052dad"
GREETING = b"\x05\x01\x00"
REQUEST = b"\x05\x01\x00\x03\x28" + HASH.encode() + b"\x00\x00"
SUCCESS = b"\x05\x00\x00\x03\x28" + HASH.encode() + b"\x00\x00"
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serving(script: Script) -> AsyncIterator[int]:
    """A real server on 127.0.0.1 running ``script`` for each connection; yields its port.

    On exit it waits for every script to end: one still running when the test's loop closes
    would be cancelled, which asyncio reports as an error.
    """
    scripts: set[asyncio.Task[object]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        scripts.add(task)
        try:
            await script(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]
    await asyncio.gather(*scripts, return_exceptions=True)


def replying(*chunks: bytes, after_greeting: bool = True) -> Script:
    """A server that reads the greeting (and the request) and sends ``chunks`` separately."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(len(GREETING))
        for number, chunk in enumerate(chunks):
            if number == 1 and after_greeting:
                await reader.readexactly(len(REQUEST))
            writer.write(chunk)
            await writer.drain()
        await asyncio.sleep(0.05)

    return script


async def refused_with(*chunks: bytes, timeout: float = 5) -> str:
    async with serving(replying(*chunks)) as port:
        with pytest.raises(TransportError) as caught:
            await socks5.connect("127.0.0.1", port, HASH, timeout)
    message = str(caught.value)
    assert message.startswith(f"SOCKS5 server 127.0.0.1:{port}: ")
    return message


# --- codec -------------------------------------------------------------------------------


def test_request_is_connect_to_a_domain_on_port_zero() -> None:
    assert socks5.encode_greeting() == GREETING
    assert socks5.encode_request(HASH) == REQUEST
    assert socks5.encode_reply(Reply.SUCCEEDED, HASH) == SUCCESS


def test_reply_codes_have_names() -> None:
    assert socks5.describe_reply(5) == "connection refused"
    assert socks5.describe_reply(42) == "unassigned reply code 42"


def test_domain_longer_than_255_bytes_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="255"):
        socks5.encode_request("x" * 256)


# --- client handshake against hostile servers ----------------------------------------------


@pytest.mark.asyncio
async def test_connect_to_our_own_server_then_data_flows() -> None:
    accepted: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(await socks5.accept(Connection(reader, writer), {HASH}.__contains__))
        writer.write(await reader.readexactly(5))
        await writer.drain()

    async with serving(serve) as port:
        connection = await socks5.connect("127.0.0.1", port, HASH, 5)
        connection.writer.write(b"ping!")
        assert await connection.reader.readexactly(5) == b"ping!"
        connection.abort()
    assert accepted.result() == HASH


@pytest.mark.asyncio
async def test_reply_and_first_data_in_one_segment() -> None:
    async with serving(replying(b"\x05\x00", SUCCESS + b"first bytes")) as port:
        connection = await socks5.connect("127.0.0.1", port, HASH, 5)
        assert await connection.reader.read() == b"first bytes"
        connection.abort()


@pytest.mark.asyncio
async def test_method_choice_reply_and_data_in_one_segment() -> None:
    script = replying(b"\x05\x00" + SUCCESS + b"eager", after_greeting=False)
    async with serving(script) as port:
        connection = await socks5.connect("127.0.0.1", port, HASH, 5)
        assert await connection.reader.read() == b"eager"
        connection.abort()


@pytest.mark.asyncio
async def test_reply_split_into_single_bytes() -> None:
    chunks = [SUCCESS[i : i + 1] for i in range(len(SUCCESS))]
    async with serving(replying(b"\x05", b"\x00", *chunks, after_greeting=False)) as port:
        connection = await socks5.connect("127.0.0.1", port, HASH, 5)
        assert await connection.reader.read() == b""  # handshake consumed, nothing left over
        connection.abort()


@pytest.mark.asyncio
async def test_short_reply() -> None:
    message = await refused_with(b"\x05\x00", b"\x05\x00\x00")
    assert "closed in the middle of the SOCKS5 handshake (got 3 of 4 bytes)" in message


@pytest.mark.asyncio
async def test_short_method_choice() -> None:
    assert "(got 1 of 2 bytes)" in await refused_with(b"\x05")


@pytest.mark.asyncio
async def test_short_address_in_reply() -> None:
    assert "(got 10 of 40 bytes)" in await refused_with(b"\x05\x00", SUCCESS[:15])


@pytest.mark.asyncio
async def test_wrong_version_in_method_choice() -> None:
    assert "method selection has version 4" in await refused_with(b"\x04\x00")


@pytest.mark.asyncio
async def test_no_acceptable_method() -> None:
    assert "accepts no method we offered" in await refused_with(b"\x05\xff")


@pytest.mark.asyncio
async def test_server_choosing_authentication() -> None:
    assert "chose method 2" in await refused_with(b"\x05\x02")


@pytest.mark.asyncio
async def test_wrong_version_in_reply() -> None:
    assert "reply has version 4" in await refused_with(b"\x05\x00", b"\x04" + SUCCESS[1:])


@pytest.mark.asyncio
async def test_non_zero_reserved_byte() -> None:
    reply = SUCCESS[:2] + b"\x01" + SUCCESS[3:]
    assert "non-zero reserved byte" in await refused_with(b"\x05\x00", reply)


@pytest.mark.asyncio
async def test_unknown_address_type() -> None:
    reply = SUCCESS[:3] + b"\x09" + SUCCESS[4:]
    assert "unknown address type 9" in await refused_with(b"\x05\x00", reply)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "name"),
    [
        (1, "general failure"),
        (2, "not allowed"),
        (3, "network unreachable"),
        (4, "host unreachable"),
        (5, "connection refused"),
        (6, "ttl expired"),
        (7, "command not supported"),
        (8, "address type not supported"),
        (9, "unassigned reply code 9"),
    ],
)
async def test_error_reply_is_named(code, name) -> None:
    reply = SUCCESS[:1] + bytes([code]) + SUCCESS[2:]
    assert f"the SOCKS5 server refused: {name}" in await refused_with(b"\x05\x00", reply)


@pytest.mark.asyncio
async def test_error_reply_without_address_is_still_named() -> None:
    assert "refused: not allowed" in await refused_with(b"\x05\x00", b"\x05\x02\x00\x03")


@pytest.mark.asyncio
async def test_reply_for_another_address() -> None:
    reply = socks5.encode_reply(Reply.SUCCEEDED, "1a12fb7bc625e55f3ed5b29a53dbe0e4aa7d80ba")
    message = await refused_with(b"\x05\x00", reply)
    assert "names address '1a12fb7bc625e55f3ed5b29a53dbe0e4aa7d80ba'" in message


@pytest.mark.asyncio
async def test_reply_with_an_ip_address() -> None:
    reply = b"\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38"
    assert "names address '127.0.0.1'" in await refused_with(b"\x05\x00", reply)


@pytest.mark.asyncio
async def test_silent_server_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes

    async with serving(silent) as port:
        with pytest.raises(TransportError, match=r"no complete SOCKS5 handshake within 0\.2 s"):
            await socks5.connect("127.0.0.1", port, HASH, 0.2)


@pytest.mark.asyncio
async def test_closed_port() -> None:
    port = free_port()
    with pytest.raises(TransportError, match=f"SOCKS5 server 127.0.0.1:{port}: "):
        await socks5.connect("127.0.0.1", port, HASH, 5)


# --- server handshake against hostile clients ----------------------------------------------


async def exchange(sent: bytes, accepted: set[str]) -> tuple[bytes, str | TransportError]:
    """Send ``sent`` to a server running :func:`socks5.accept`; return (what came back, outcome)."""
    outcome: asyncio.Future[str | TransportError] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            address = await socks5.accept(Connection(reader, writer), accepted.__contains__)
            outcome.set_result(address)
        except TransportError as error:
            outcome.set_result(error)

    async with serving(serve) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(sent)
        writer.write_eof()
        received = await reader.read()
        writer.close()
    return received, await outcome


@pytest.mark.asyncio
async def test_accepts_greeting_and_request_in_one_segment() -> None:
    received, outcome = await exchange(GREETING + REQUEST, {HASH})
    assert received == b"\x05\x00" + SUCCESS
    assert outcome == HASH


@pytest.mark.asyncio
async def test_accepts_a_greeting_offering_several_methods() -> None:
    received, outcome = await exchange(b"\x05\x03\x02\x01\x00" + REQUEST, {HASH})
    assert received == b"\x05\x00" + SUCCESS
    assert outcome == HASH


@pytest.mark.asyncio
async def test_refuses_an_unknown_dstaddr() -> None:
    received, outcome = await exchange(GREETING + REQUEST, {"something else"})
    assert received[:4] == b"\x05\x00\x05\x02"  # method chosen, then REP=2 not allowed
    assert isinstance(outcome, TransportError)
    assert f"unknown DST.ADDR '{HASH}'" in str(outcome)


@pytest.mark.asyncio
async def test_refuses_a_client_that_needs_authentication() -> None:
    received, outcome = await exchange(b"\x05\x01\x02", {HASH})
    assert received == b"\x05\xff"
    assert "does not offer 'no authentication'" in str(outcome)


@pytest.mark.asyncio
async def test_refuses_bind() -> None:
    received, outcome = await exchange(GREETING + b"\x05\x02" + REQUEST[2:], {HASH})
    assert received[2:4] == b"\x05\x07"
    assert "only CONNECT is served" in str(outcome)


@pytest.mark.asyncio
async def test_refuses_an_ip_destination() -> None:
    request = b"\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x00"
    received, outcome = await exchange(GREETING + request, {HASH})
    assert received[2:4] == b"\x05\x08"
    assert "asked for an IP address" in str(outcome)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (b"\x04\x01\x00", "greeting has version 4"),
        (b"\x05\x00", "offers no authentication method"),
        (b"\x05\x01", "(got 0 of 1 bytes)"),
        (GREETING + b"\x05\x01\x00\x03\x28abc", "(got 3 of 40 bytes)"),
        (GREETING + b"\x05\x01\x00\x03\x03\xff\xfe\xfd\x00\x00", "not ASCII"),
        (GREETING + b"\x06" + REQUEST[1:], "request has version 6"),
    ],
)
async def test_refuses_malformed_clients(sent, message) -> None:
    _, outcome = await exchange(sent, {HASH})
    assert isinstance(outcome, TransportError)
    assert message in str(outcome)
    assert str(outcome).startswith("SOCKS5 client: ")
