"""IBB transport end to end: two clients on the real Prosody, a session pair, real transfers."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

import pytest
from slixmpp import ClientXMPP, Iq
from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

import slixmpp_jet.transports.ibb  # noqa: F401  (registers xep_0261)
from slixmpp_jet.transports.base import (
    ByteSink,
    ByteSource,
    TransportContext,
    expect_sink,
    expect_source,
)
from slixmpp_jet.transports.ibb import IbbTransportSession
from slixmpp_jet.transports.ibb.plugin import XEP_0261
from slixmpp_jet.transports.ibb.stanza import NS_IBB

OFFERED = XEP_0261.default_config["block_size"]
"""The block-size we offer."""

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]

MiB = 1024 * 1024
DATA = f"{{{NS_IBB}}}data"


async def no_transport_info(_transport) -> None:
    raise AssertionError("IBB never needs a transport-info")


def context(me: ClientXMPP, peer: ClientXMPP, *, initiator: bool, sending: bool):
    return TransportContext(
        sid="jingle-session",
        content_name="file",
        local_jid=me.boundjid.full,
        peer_jid=peer.boundjid.full,
        initiator=initiator,
        sending=sending,
        send_transport_info=no_transport_info,
    )


@dataclass
class Wire:
    """What one client's IBB handlers were sent: open block-sizes, data seqs and block lengths."""

    opens: list[int] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    def watch(self, client: ClientXMPP) -> Wire:
        def on_open(iq: StanzaBase) -> None:
            self.opens.append(int(iq["ibb_open"].xml.get("block-size")))

        def on_data(iq: StanzaBase) -> StanzaBase:
            # A filter before the plugin's, which takes <data/> IQs before any handler.
            if isinstance(iq, Iq) and iq["type"] == "set" and iq.xml.find(DATA) is not None:
                self.seqs.append(int(iq["ibb_data"].xml.get("seq")))
                self.lengths.append(len(iq["ibb_data"]["data"]))
            return iq

        client.register_handler(Callback("wire open", StanzaPath("iq@type=set/ibb_open"), on_open))
        client.add_filter("in", on_data)
        if "xep_0261" in client.plugin:
            client.plugin["xep_0261"]._shortcut.install()  # last again, after this filter
        return self


@dataclass
class Pair:
    initiator: ClientXMPP
    responder: ClientXMPP
    initiator_transport: IbbTransportSession
    responder_transport: IbbTransportSession
    initiator_stream: ByteSource | ByteSink
    responder_stream: ByteSource | ByteSink
    initiator_sends: bool

    @property
    def sender(self) -> ByteSink:
        return expect_sink(self.initiator_stream if self.initiator_sends else self.responder_stream)

    @property
    def receiver(self) -> ByteSource:
        return expect_source(
            self.responder_stream if self.initiator_sends else self.initiator_stream
        )

    @property
    def sending_client(self) -> ClientXMPP:
        return self.initiator if self.initiator_sends else self.responder

    @property
    def receiving_client(self) -> ClientXMPP:
        return self.responder if self.initiator_sends else self.initiator

    @property
    def sid(self) -> str:
        return self.initiator_transport.sid


async def connect_pair(accounts, client_factory, *, initiator_sends=True, **responder_config):
    alice, bob = accounts(2)
    initiator = await client_factory(alice, "ibb", ["xep_0261"])
    responder = await client_factory(bob, "ibb", ["xep_0261"])
    for key, value in responder_config.items():
        setattr(responder.plugin["xep_0261"], key, value)
    return initiator, responder


async def open_pair(initiator, responder, *, initiator_sends=True) -> Pair:
    """The brief's recipe: offer, answer, accept the answer, establish both sides."""
    offer = await initiator.plugin["xep_0261"].create_session(
        context(initiator, responder, initiator=True, sending=initiator_sends)
    )
    answer = await responder.plugin["xep_0261"].create_session(
        context(responder, initiator, initiator=False, sending=not initiator_sends),
        remote=offer.description(),
    )
    offer.accept_remote(answer.description())
    initiator_stream, responder_stream = await asyncio.gather(offer.establish(), answer.establish())
    return Pair(
        initiator, responder, offer, answer, initiator_stream, responder_stream, initiator_sends
    )


async def until(condition, timeout: float = 30) -> None:
    """Poll ``condition`` (no timing is asserted; the timeout only stops a hung test)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def send_all(stream: ByteSink, payload: bytes, piece: int = 64 * 1024) -> None:
    for start in range(0, len(payload), piece):
        await stream.write(payload[start : start + piece])
    await stream.finish()


async def read_to_end(stream: ByteSource) -> bytes:
    chunks = []
    while chunk := await stream.read():
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "initiator_sends", [True, False], ids=["initiator-sends", "responder-sends"]
)
@pytest.mark.parametrize("size", [0, 1, 2 * MiB], ids=["empty", "one-byte", "2MiB"])
async def test_transfer_arrives_identical(accounts, client_factory, initiator_sends, size) -> None:
    initiator, responder = await connect_pair(accounts, client_factory)
    pair = await open_pair(initiator, responder, initiator_sends=initiator_sends)
    payload = os.urandom(size)
    _, received = await asyncio.gather(send_all(pair.sender, payload), read_to_end(pair.receiver))
    assert received == payload


async def test_smaller_block_size_of_the_responder_is_used(accounts, client_factory) -> None:
    initiator, responder = await connect_pair(accounts, client_factory, max_block_size=2048)
    wire = Wire().watch(responder)
    pair = await open_pair(initiator, responder)
    assert pair.responder_transport.description().get("block-size") == "2048"
    assert pair.initiator_transport.block_size == 2048
    payload = os.urandom(10_000)
    _, received = await asyncio.gather(send_all(pair.sender, payload), read_to_end(pair.receiver))
    assert received == payload
    assert wire.opens == [2048]
    assert wire.lengths == [2048, 2048, 2048, 2048, 10_000 - 4 * 2048]


async def test_seq_on_the_wire_starts_at_zero_and_counts_up(accounts, client_factory) -> None:
    initiator, responder = await connect_pair(accounts, client_factory)
    wire = Wire().watch(initiator)
    pair = await open_pair(initiator, responder, initiator_sends=False)
    payload = os.urandom(25 * OFFERED + 7)
    _, received = await asyncio.gather(send_all(pair.sender, payload), read_to_end(pair.receiver))
    assert received == payload
    assert wire.seqs == list(range(26))


async def test_receiver_gets_every_byte_before_any_close(accounts, client_factory) -> None:
    """The receiver counts bytes itself; it then stops, and the sender's finish still succeeds."""
    initiator, responder = await connect_pair(accounts, client_factory)
    pair = await open_pair(initiator, responder)
    payload = os.urandom(300_000)
    await_close = asyncio.Event()

    async def send() -> None:
        await pair.sender.write(payload)
        await await_close.wait()
        await pair.sender.finish()

    async def receive() -> bytes:
        received = bytearray()
        while len(received) < len(payload):
            received += await pair.receiver.read(len(payload) - len(received))
        pair.receiver.abort()
        await_close.set()
        return bytes(received)

    _, received = await asyncio.gather(send(), receive())
    assert received == payload


async def test_slow_reader_holds_the_sender_back(accounts, client_factory) -> None:
    initiator, responder = await connect_pair(accounts, client_factory, receive_buffer=4096)
    initiator.plugin["xep_0261"].window = 2
    wire = Wire().watch(responder)
    pair = await open_pair(initiator, responder)
    payload = os.urandom(16 * 4096)
    writing = asyncio.ensure_future(send_all(pair.sender, payload))
    await until(lambda: len(wire.seqs) >= 3)
    for _ in range(3):  # round trips through the server flush anything already under way
        await initiator.plugin["xep_0030"].get_info(jid=responder.boundjid.full)
    # one block in the full buffer, two unacknowledged: the window is exhausted
    assert len(wire.seqs) == 3
    assert not writing.done()
    received = await read_to_end(pair.receiver)
    await writing
    assert received == payload


async def test_disco_features_come_and_go(accounts, client_factory) -> None:
    (alice, bob) = accounts(2)
    asker = await client_factory(alice, "ibb", ["xep_0030"])
    client = await client_factory(bob, "ibb", ["xep_0261"])
    wanted = {"urn:xmpp:jingle:transports:ibb:1", "http://jabber.org/protocol/ibb"}
    info = await asker.plugin["xep_0030"].get_info(jid=client.boundjid.full)
    assert wanted <= set(info["disco_info"]["features"])
    client.plugin.disable("xep_0261")
    info = await asker.plugin["xep_0030"].get_info(jid=client.boundjid.full)
    assert not wanted & set(info["disco_info"]["features"])
