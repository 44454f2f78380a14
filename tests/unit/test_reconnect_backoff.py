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
