"""The Reconnector's schedule, against a real TCP server that drops (or holds) every stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
import slixmpp

from slixmpp_jet.reconnect import Reconnector


@dataclass
class Server:
    """A TCP server on loopback that closes every connection at once, or holds it open."""

    hold: bool = False
    accepted: int = 0
    port: int = 0
    held: list[asyncio.StreamWriter] = field(default_factory=list)
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for writer in self.held:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _accept(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.hold:
            self.held.append(writer)
        else:
            writer.close()


@dataclass
class Bot:
    """A client with a started reconnector (delays 0.01 s to 0.04 s) and its events."""

    client: slixmpp.ClientXMPP
    reconnector: Reconnector
    delays: asyncio.Queue[float]


@pytest_asyncio.fixture
async def bot_and_server(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Bot, Server]]:
    server = Server(hold=getattr(request, "param", False))
    await server.start()
    client = slixmpp.ClientXMPP("bot@localhost/r", "secret")
    client.enable_plaintext = True
    client.enable_direct_tls = False
    bot = Bot(client, Reconnector(client, first_delay=0.01, max_delay=0.04), asyncio.Queue())
    client.add_event_handler("jet_reconnecting", bot.delays.put_nowait)
    bot.reconnector.start()
    try:
        yield bot, server
    finally:
        bot.reconnector.stop()
        client.cancel_connection_attempt()
        client.abort()
        await server.stop()


async def next_delays(bot: Bot, count: int) -> list[float]:
    return [await asyncio.wait_for(bot.delays.get(), 10) for _ in range(count)]


@pytest.mark.asyncio
async def test_delay_doubles_while_streams_keep_failing_up_to_the_maximum(
    bot_and_server,
) -> None:
    bot, server = bot_and_server
    bot.client.connect("127.0.0.1", server.port)
    assert await next_delays(bot, 5) == [0.01, 0.02, 0.04, 0.04, 0.04]
    assert bot.reconnector.losses >= 5
    assert server.accepted >= 5


@pytest.mark.asyncio
async def test_retries_keep_the_schedule_while_the_server_is_out_of_reach(
    bot_and_server,
) -> None:
    """After a loss, refused connections are retried on the reconnector's schedule (slixmpp's
    own would wait 1, 3, 7 ... up to 300 s), and the server coming back is found."""
    bot, server = bot_and_server
    slixmpp_waits: list[float] = []
    bot.client.add_event_handler("reconnect_delay", slixmpp_waits.append)
    bot.client.connect("127.0.0.1", server.port)
    await next_delays(bot, 1)  # the first loss
    await server.stop()
    out_of_reach = await next_delays(bot, 6)
    before = server.accepted
    await server.start()  # the same port again
    while server.accepted == before:
        await next_delays(bot, 1)
    assert out_of_reach == [0.02, 0.04, 0.04, 0.04, 0.04, 0.04]
    assert slixmpp_waits == []


@pytest.mark.asyncio
@pytest.mark.parametrize("bot_and_server", [True], indirect=True, ids=["holding server"])
async def test_disconnecting_on_purpose_is_no_loss(bot_and_server) -> None:
    bot, server = bot_and_server
    connected: asyncio.Queue[object] = asyncio.Queue()
    disconnected: asyncio.Queue[object] = asyncio.Queue()
    bot.client.add_event_handler("connected", connected.put_nowait)
    bot.client.add_event_handler("disconnected", disconnected.put_nowait)
    bot.client.connect("127.0.0.1", server.port)
    await asyncio.wait_for(connected.get(), 10)
    await bot.client.disconnect(wait=0.1)
    await asyncio.wait_for(disconnected.get(), 10)
    assert bot.reconnector.losses == 0
    assert bot.delays.empty()
    assert server.accepted == 1


def test_delays_must_make_sense() -> None:
    client = slixmpp.ClientXMPP("bot@localhost/r", "secret")
    with pytest.raises(ValueError):
        Reconnector(client, first_delay=2, max_delay=1)
    with pytest.raises(ValueError):
        Reconnector(client, first_delay=0)
