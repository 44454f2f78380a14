"""Our SOCKS5 listener for direct candidates, on real loopback sockets."""

from __future__ import annotations

import asyncio

import pytest

from slixmpp_jet.errors import TransportError
from slixmpp_jet.testing.prosody import free_port
from slixmpp_jet.transports.s5b import socks5
from slixmpp_jet.transports.s5b.candidates import dstaddr
from slixmpp_jet.transports.s5b.listener import DirectListener

pytestmark = pytest.mark.asyncio

SID = "vj3hs98y"
INITIATOR = "romeo@montague.lit/orchard"
RESPONDER = "juliet@capulet.lit/balcony"
OWNER_FIRST = dstaddr(SID, RESPONDER, INITIATOR)  # the responder's own candidates
INITIATOR_FIRST = dstaddr(SID, INITIATOR, RESPONDER)  # old Conversations


async def responder_listener(**options: float) -> tuple[DirectListener, tuple[str, int]]:
    listener = DirectListener({OWNER_FIRST, INITIATOR_FIRST}, options.get("timeout", 5))
    endpoint = await listener.listen("127.0.0.1")
    assert endpoint is not None
    return listener, endpoint


@pytest.mark.parametrize("address", [OWNER_FIRST, INITIATOR_FIRST], ids=["owner-first", "legacy"])
async def test_accepts_both_dstaddr_orders_and_hands_over_the_connection(address) -> None:
    listener, (host, port) = await responder_listener()
    client = await socks5.connect(host, port, address, 5)
    server = listener.claim((host, port))
    assert server is not None
    client.writer.write(b"over the direct candidate")
    assert await server.reader.readexactly(25) == b"over the direct candidate"
    assert listener.claim((host, port)) is None  # claimed once
    listener.close()
    client.abort()
    server.abort()


async def test_refuses_an_unknown_dstaddr_and_closes() -> None:
    listener, (host, port) = await responder_listener()
    with pytest.raises(TransportError, match="refused: not allowed"):
        await socks5.connect(host, port, dstaddr(SID, INITIATOR, "mallory@evil.lit/x"), 5)
    assert listener.claim((host, port)) is None
    listener.close()


async def test_a_later_connection_replaces_an_earlier_one() -> None:
    listener, (host, port) = await responder_listener()
    first = await socks5.connect(host, port, OWNER_FIRST, 5)
    second = await socks5.connect(host, port, OWNER_FIRST, 5)
    server = listener.claim((host, port))
    assert server is not None
    second.writer.write(b"2")
    assert await server.reader.readexactly(1) == b"2"
    assert await first.reader.read() == b""  # the earlier one was dropped
    listener.close()
    for connection in (first, second, server):
        connection.abort()


async def test_a_silent_client_is_dropped_after_the_handshake_timeout() -> None:
    listener, (host, port) = await responder_listener(timeout=0.2)
    reader, writer = await asyncio.open_connection(host, port)
    assert await reader.read() == b""
    assert listener.claim((host, port)) is None
    writer.close()
    listener.close()


async def test_close_drops_unclaimed_connections_and_stops_listening() -> None:
    listener, (host, port) = await responder_listener()
    client = await socks5.connect(host, port, OWNER_FIRST, 5)
    half_done_reader, half_done_writer = await asyncio.open_connection(host, port)
    half_done_writer.write(b"\x05\x01\x00")
    assert await half_done_reader.readexactly(2) == b"\x05\x00"
    listener.close()
    assert await client.reader.read() == b""
    assert await half_done_reader.read() == b""
    with pytest.raises(OSError):
        await asyncio.open_connection(host, port)
    listener.close()  # twice is fine
    client.abort()
    half_done_writer.close()


async def test_port_range_is_honoured() -> None:
    port = free_port()
    listener = DirectListener({OWNER_FIRST}, 5)
    assert await listener.listen("127.0.0.1", (port, port)) == ("127.0.0.1", port)
    assert await listener.listen("127.0.0.1", (port, port)) is None  # nothing free left
    listener.close()


async def test_ipv6_connections_are_claimed_by_their_endpoint() -> None:
    listener = DirectListener({OWNER_FIRST}, 5)
    endpoint = await listener.listen("::1")
    if endpoint is None:
        listener.close()
        pytest.skip("no IPv6 loopback here")
    assert endpoint[0] == "::1"
    client = await socks5.connect(*endpoint, OWNER_FIRST, 5)
    server = listener.claim(endpoint)
    assert server is not None
    listener.close()
    client.abort()
    server.abort()
