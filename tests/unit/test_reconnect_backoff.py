"""The Reconnector's backoff, against a real TCP server that drops every stream at once."""

from __future__ import annotations

import asyncio

import pytest
import slixmpp

from slixmpp_jet.reconnect import Reconnector


@pytest.mark.asyncio
async def test_delay_doubles_while_streams_keep_failing_up_to_the_maximum() -> None:
    accepted = 0

    async def drop(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = slixmpp.ClientXMPP("bot@localhost/r", "secret")
    client.enable_plaintext = True
    client.enable_direct_tls = False
    reconnector = Reconnector(client, first_delay=0.01, max_delay=0.04)
    delays: asyncio.Queue[float] = asyncio.Queue()
    client.add_event_handler("jet_reconnecting", delays.put_nowait)
    reconnector.start()
    client.connect("127.0.0.1", port)
    try:
        seen = [await asyncio.wait_for(delays.get(), 10) for _ in range(5)]
    finally:
        reconnector.stop()
        client.cancel_connection_attempt()
        client.abort()
        server.close()
        await server.wait_closed()

    assert seen == [0.01, 0.02, 0.04, 0.04, 0.04]
    assert reconnector.losses >= 5
    assert accepted >= 5


def test_delays_must_make_sense() -> None:
    client = slixmpp.ClientXMPP("bot@localhost/r", "secret")
    with pytest.raises(ValueError):
        Reconnector(client, first_delay=2, max_delay=1)
    with pytest.raises(ValueError):
        Reconnector(client, first_delay=0)


@pytest.mark.asyncio
async def test_retries_keep_the_schedule_while_the_server_is_out_of_reach() -> None:
    """After a loss, refused connections are retried on the reconnector's schedule (slixmpp's
    own would wait 1, 3, 7 ... up to 300 s), and the server coming back is found."""
    accepted = 0

    async def drop(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = slixmpp.ClientXMPP("bot@localhost/r", "secret")
    client.enable_plaintext = True
    client.enable_direct_tls = False
    reconnector = Reconnector(client, first_delay=0.01, max_delay=0.04)
    delays: asyncio.Queue[float] = asyncio.Queue()
    slixmpp_waits: list[float] = []
    client.add_event_handler("jet_reconnecting", delays.put_nowait)
    client.add_event_handler("reconnect_delay", slixmpp_waits.append)
    reconnector.start()
    client.connect("127.0.0.1", port)
    try:
        await asyncio.wait_for(delays.get(), 10)  # the first loss
        server.close()
        await server.wait_closed()
        out_of_reach = [await asyncio.wait_for(delays.get(), 10) for _ in range(6)]
        before = accepted
        server = await asyncio.start_server(drop, "127.0.0.1", port)
        while accepted == before:
            await asyncio.wait_for(delays.get(), 10)
    finally:
        reconnector.stop()
        client.cancel_connection_attempt()
        client.abort()
        server.close()
        await server.wait_closed()

    assert out_of_reach == [0.02, 0.04, 0.04, 0.04, 0.04, 0.04]
    assert slixmpp_waits == []


@pytest.mark.asyncio
async def test_disconnecting_on_purpose_is_no_loss() -> None:
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = slixmpp.ClientXMPP("bot@localhost/r", "secret")
    client.enable_plaintext = True
    client.enable_direct_tls = False
    reconnector = Reconnector(client, first_delay=0.01, max_delay=0.04)
    reconnector.start()
    connected: asyncio.Queue[object] = asyncio.Queue()
    disconnected: asyncio.Queue[object] = asyncio.Queue()
    client.add_event_handler("connected", connected.put_nowait)
    client.add_event_handler("disconnected", disconnected.put_nowait)
    client.connect("127.0.0.1", port)
    try:
        await asyncio.wait_for(connected.get(), 10)
        await client.disconnect(wait=0.1)
        await asyncio.wait_for(disconnected.get(), 10)
    finally:
        reconnector.stop()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()

    assert reconnector.losses == 0
    assert len(held) == 1
