"""The two ends of one real loopback TCP connection, as the SOCKS5 transport hands them out."""

from __future__ import annotations

import asyncio

from slixmpp_jet.transports.s5b.socks5 import Connection
from slixmpp_jet.transports.s5b.stream import SocketSink, SocketSource


async def connected_pair() -> tuple[SocketSink, SocketSource]:
    """(sender, receiver) on the two ends of one TCP connection."""
    accepted: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(Connection(reader, writer))

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
    server.close()
    return SocketSink(Connection(reader, writer)), SocketSource(await accepted)
