"""Quick acknowledgement on our stream (Linux): what takes a Jingle round trip from ~90 ms to
~10 ms behind a server that keeps Nagle's algorithm on (Prosody's default). The timing is
measured in ``benchmarks/first_byte.py``; here only that the option is on after reads."""

from __future__ import annotations

import socket

import pytest

from slixmpp_jet.testing.clients import connect, disconnect, make_client

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]

QUICKACK = getattr(socket, "TCP_QUICKACK", None)


@pytest.mark.skipif(QUICKACK is None, reason="TCP_QUICKACK is Linux-only")
async def test_the_stream_acknowledges_at_once_after_every_read(prosody, accounts) -> None:
    [alice] = accounts(1)
    client = make_client(prosody, alice, "q")
    client.register_plugin("xep_0166")
    client.register_plugin("xep_0199")
    await connect(client, prosody)
    try:
        for _ in range(3):
            await client.plugin["xep_0199"].ping(client.boundjid.domain, timeout=10)
            sock = client.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, QUICKACK) == 1
    finally:
        await disconnect(client)
