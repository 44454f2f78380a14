"""SocketSink and SocketSource on the two ends of a real loopback TCP connection."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from slixmpp_jet.errors import TransportError
from slixmpp_jet.transports.base import ByteSink, ByteSource
from slixmpp_jet.transports.s5b.socks5 import Connection
from slixmpp_jet.transports.s5b.stream import LOW_WATER, SocketSink, SocketSource

pytestmark = pytest.mark.asyncio


async def connected_pair() -> tuple[SocketSink, SocketSource]:
    """(sender, receiver) on the two ends of one TCP connection."""
    accepted: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(Connection(reader, writer))

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
    server.close()
    return SocketSink(Connection(reader, writer)), SocketSource(await accepted)


async def read_to_end(stream: SocketSource) -> bytes:
    received = bytearray()
    while chunk := await stream.read(7000):
        assert len(chunk) <= 7000
        received += chunk
    return bytes(received)


async def test_bytes_arrive_in_order_and_finish_ends_the_stream() -> None:
    sender, receiver = await connected_pair()
    payload = os.urandom(3 * 1024 * 1024 + 5)

    async def send() -> None:
        for start in range(0, len(payload), 65536):
            await sender.write(payload[start : start + 65536])
        await sender.finish()

    _, received = await asyncio.gather(send(), read_to_end(receiver))
    assert received == payload
    assert await receiver.read() == b""
    receiver.abort()


async def test_each_end_goes_one_way_only() -> None:
    sender, receiver = await connected_pair()
    assert not isinstance(sender, ByteSource)
    assert not isinstance(receiver, ByteSink)
    sender.abort()
    receiver.abort()


async def test_write_after_finish_is_refused() -> None:
    sender, receiver = await connected_pair()
    await sender.finish()
    await sender.finish()  # twice is fine
    with pytest.raises(TransportError, match="closed"):
        await sender.write(b"late")
    assert await receiver.read() == b""
    receiver.abort()


async def test_abort_ends_the_peer_stream_at_once() -> None:
    sender, receiver = await connected_pair()
    sender.abort()
    sender.abort()  # twice is fine
    assert await receiver.read() == b""
    with pytest.raises(TransportError, match="closed"):
        await sender.write(b"late")
    receiver.abort()


async def test_reading_after_our_own_abort_raises_rather_than_looking_like_the_end() -> None:
    sender, receiver = await connected_pair()
    receiver.abort()
    receiver.abort()  # twice is fine
    with pytest.raises(TransportError, match="aborted"):
        await receiver.read()
    sender.abort()


async def test_writing_to_a_vanished_receiver_raises() -> None:
    sender, receiver = await connected_pair()
    receiver.abort()
    with pytest.raises(TransportError, match="broke"):
        for _ in range(10_000):  # the reset arrives after a write or two
            await sender.write(b"\0" * 65536)
    sender.abort()


async def test_abort_after_a_finished_stream_is_harmless() -> None:
    sender, receiver = await connected_pair()
    await sender.write(b"all of it")
    await sender.finish()
    assert await read_to_end(receiver) == b"all of it"
    await asyncio.sleep(0)  # let the transport finish closing
    sender.abort()
    receiver.abort()
    receiver.abort()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_RCVLOWAT as Linux has it")
async def test_a_trickle_is_read_in_low_water_pieces_and_the_tail_without_waiting() -> None:
    sender, receiver = await connected_pair()
    piece, pieces = 4096, LOW_WATER // 4096 + 4  # what proxy65 relays per turn of its loop

    async def trickle() -> None:
        for _ in range(pieces):
            await sender.write(bytes(piece))
            await asyncio.sleep(0.002)

    sending = asyncio.ensure_future(trickle())
    first = await receiver.read(1024 * 1024)
    assert len(first) >= LOW_WATER
    await sending
    rest = await receiver.read(pieces * piece - len(first))  # no more than the rest: no wait
    assert len(first) + len(rest) <= pieces * piece
    while len(first) + len(rest) < pieces * piece:
        rest += await receiver.read(pieces * piece - len(first) - len(rest))
    await sender.finish()
    assert await receiver.read(1024 * 1024) == b""
