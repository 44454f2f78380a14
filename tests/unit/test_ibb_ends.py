"""IbbSender (a ByteSink) and IbbReceiver (a ByteSource) against a scripted link, no server."""

from __future__ import annotations

import asyncio
import base64
from xml.etree import ElementTree as ET

import pytest
from slixmpp import ClientXMPP

from slixmpp_jet.errors import TransportError
from slixmpp_jet.transports.base import ByteSink, ByteSource
from slixmpp_jet.transports.ibb.receiver import IbbReceiver
from slixmpp_jet.transports.ibb.sender import IbbSender

pytestmark = pytest.mark.asyncio


class RecordingStream(ClientXMPP):
    """The XML stream our answers go out on, never connected: records the type of each."""

    def __init__(self, answers: list[str]) -> None:
        super().__init__("us@localhost/u", "unused")
        self._answers = answers

    def send(self, data, *args, **kwargs) -> None:
        self._answers.append(data["type"])


ADDRESSING = {"id": "7", "from": "peer@localhost/p", "to": "us@localhost/u"}


class PeerIq:
    """A ``<data/>`` or ``<close/>`` from the peer; ``answers`` records how we answered it."""

    def __init__(self, seq: int = 0, block: bytes = b"") -> None:
        self.answers: list[str] = []
        self.stream = RecordingStream(self.answers)
        self._data = ET.Element("data", seq=str(seq))
        self._data.text = base64.b64encode(block).decode()

    def __getitem__(self, key: str) -> object:
        return ADDRESSING.get(key, self)

    @property
    def xml(self) -> ET.Element:
        return self._data


class OurIq:
    """A ``<data/>`` of ours; the test decides when the peer acknowledges it."""

    def __init__(self, block: bytes) -> None:
        self.block = block
        self.answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def send(self, timeout: float) -> asyncio.Future[None]:
        return self.answer


class ScriptedLink:
    """Stands in for IbbLink: records what the stream asks of it."""

    sid = "ibb-sid"
    peer_jid = "bob@localhost/ibb"

    def __init__(self) -> None:
        self.sent: list[OurIq] = []
        self.closes = 0
        self.quiet_closes = 0
        self.released = False
        self.on_close_request = None

    def data_iq(self, seq: int, block: bytes | memoryview) -> OurIq:
        self.sent.append(OurIq(bytes(block)))
        return self.sent[-1]

    def close_iq(self) -> str:
        return "close"

    async def request(self, iq: str, timeout: float, what: str) -> None:
        self.closes += 1
        if self.on_close_request is not None:
            self.on_close_request()

    def close_quietly(self, timeout: float) -> None:
        self.quiet_closes += 1

    def release(self) -> None:
        self.released = True


def sender(link: ScriptedLink) -> IbbSender:
    return IbbSender(link, block_size=4, window=2, ack_timeout=5)  # type: ignore[arg-type]


def receiver(link: ScriptedLink) -> IbbReceiver:
    return IbbReceiver(link, block_size=4, buffer_bytes=16, close_timeout=5)  # type: ignore[arg-type]


async def test_sender_is_a_sink_that_closes_once_every_block_is_acknowledged() -> None:
    link = ScriptedLink()
    stream = sender(link)
    assert isinstance(stream, ByteSink) and not isinstance(stream, ByteSource)
    await stream.write(b"abcdefg")
    assert [iq.block for iq in link.sent] == [b"abcd", b"efg"]
    finishing = asyncio.ensure_future(stream.finish())
    await asyncio.sleep(0)
    assert link.closes == 0  # blocks still unacknowledged
    for iq in link.sent:
        iq.answer.set_result(None)
    await finishing
    await stream.finish()  # twice is fine
    assert (link.closes, link.released) == (1, True)
    with pytest.raises(TransportError, match="already closed"):
        await stream.write(b"late")


async def test_our_close_crossing_the_peers_is_not_a_failure() -> None:
    link = ScriptedLink()
    stream = sender(link)
    await stream.write(b"data")
    link.sent[0].answer.set_result(None)
    peer_close = PeerIq()

    def peer_closed_first() -> None:
        stream.on_close(peer_close)  # the peer's close arrives before its answer to ours
        raise TransportError("bob refused the close of IBB stream ibb-sid: item-not-found")

    link.on_close_request = peer_closed_first
    await stream.finish()
    assert peer_close.answers == ["result"]


async def test_a_refused_close_without_the_peers_is_a_failure() -> None:
    link = ScriptedLink()
    stream = sender(link)

    def refused() -> None:
        raise TransportError("bob refused the close of IBB stream ibb-sid: item-not-found")

    link.on_close_request = refused
    with pytest.raises(TransportError, match="item-not-found"):
        await stream.finish()


async def test_receiver_is_a_source_that_ends_at_the_peers_close() -> None:
    link = ScriptedLink()
    stream = receiver(link)
    assert isinstance(stream, ByteSource) and not isinstance(stream, ByteSink)
    block = PeerIq(0, b"abcd")
    stream.on_data(block)
    assert block.answers == ["result"]
    assert await stream.read(3) == b"abc"
    stream.on_close(PeerIq())
    assert await stream.read() == b"d"
    assert await stream.read() == b""
    stream.abort()
    assert link.quiet_closes == 0  # the peer had closed already


async def test_receiver_abort_closes_for_us_and_later_reads_raise() -> None:
    link = ScriptedLink()
    stream = receiver(link)
    stream.on_data(PeerIq(0, b"abcd"))
    stream.abort()
    stream.abort()  # twice is fine
    assert (link.quiet_closes, link.released) == (1, True)
    with pytest.raises(TransportError, match="closed by us"):
        await stream.read()
    late = PeerIq(1, b"efgh")
    stream.on_data(late)
    assert late.answers == ["error"]
