"""What the receiver's end of a data channel delivers: bytes first, then the end or the error."""

from __future__ import annotations

import asyncio

import pytest

from slixmpp_jet.errors import TransportError
from slixmpp_jet.transports.webrtc.stream import Inbox

pytestmark = pytest.mark.asyncio


async def test_bytes_come_in_order_and_split_to_the_size_asked() -> None:
    inbox = Inbox()
    inbox.put(b"abcdef")
    inbox.put(b"gh")
    assert await inbox.read(4) == b"abcd"
    assert await inbox.read(100) == b"ef"
    assert await inbox.read(100) == b"gh"


async def test_a_read_waits_for_the_next_message() -> None:
    inbox = Inbox()
    reading = asyncio.ensure_future(inbox.read(10))
    await asyncio.sleep(0)
    assert not reading.done()
    inbox.put(b"late")
    assert await reading == b"late"


async def test_the_end_comes_after_the_bytes_before_it() -> None:
    inbox = Inbox()
    inbox.put(b"last")
    inbox.end()
    inbox.put(b"after the end")
    assert await inbox.read(10) == b"last"
    assert await inbox.read(10) == b""


async def test_a_broken_connection_is_an_error_after_the_bytes_before_it() -> None:
    inbox = Inbox()
    inbox.put(b"kept")
    inbox.fail(TransportError("the peer connection failed"))
    assert await inbox.read(10) == b"kept"
    with pytest.raises(TransportError, match="failed"):
        await inbox.read(10)


async def test_a_peer_that_floods_past_the_limit_breaks_the_stream() -> None:
    inbox = Inbox(limit=10)
    inbox.put(b"x" * 6)
    inbox.put(b"y" * 6)
    with pytest.raises(TransportError, match="did not read"):
        await inbox.read(100)


async def test_reading_makes_room_again() -> None:
    inbox = Inbox(limit=10)
    inbox.put(b"x" * 8)
    assert await inbox.read(8) == b"x" * 8
    inbox.put(b"y" * 8)
    assert await inbox.read(8) == b"y" * 8
