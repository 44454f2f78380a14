"""IBB transport end to end: two clients on the real Prosody, a session pair, real transfers."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

import pytest
from slixmpp import ClientXMPP
from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

import slixmpp_jet.transports.ibb  # noqa: F401  (registers xep_0261)
from slixmpp_jet.transports.base import ByteStream, TransportContext
from slixmpp_jet.transports.ibb import IbbTransportSession

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]

MiB = 1024 * 1024


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

        def on_data(iq: StanzaBase) -> None:
            self.seqs.append(int(iq["ibb_data"].xml.get("seq")))
            self.lengths.append(len(iq["ibb_data"]["data"]))

        client.register_handler(Callback("wire open", StanzaPath("iq@type=set/ibb_open"), on_open))
        client.register_handler(Callback("wire data", StanzaPath("iq@type=set/ibb_data"), on_data))
        return self


@dataclass
class Pair:
    initiator: ClientXMPP
    responder: ClientXMPP
    initiator_transport: IbbTransportSession
    responder_transport: IbbTransportSession
    initiator_stream: ByteStream
    responder_stream: ByteStream
    initiator_sends: bool

    @property
    def sender(self) -> ByteStream:
        return self.initiator_stream if self.initiator_sends else self.responder_stream

    @property
    def receiver(self) -> ByteStream:
        return self.responder_stream if self.initiator_sends else self.initiator_stream

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


async def send_all(stream: ByteStream, payload: bytes, piece: int = 64 * 1024) -> None:
    for start in range(0, len(payload), piece):
        await stream.write(payload[start : start + piece])
    await stream.close()


async def read_to_end(stream: ByteStream) -> bytes:
    chunks = []
    while chunk := await stream.read():
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("initiator_sends", [True, False], ids=["initiator-sends", "responder-sends"])
@pytest.mark.parametrize("size", [0, 1, 2 * MiB], ids=["empty", "one-byte", "2MiB"])
async def test_transfer_arrives_identical(accounts, client_factory, initiator_sends, size) -> None:
    initiator, responder = await connect_pair(accounts, client_factory)
    pair = await open_pair(initiator, responder, initiator_sends=initiator_sends)
    payload = os.urandom(size)
    _, received = await asyncio.gather(
        send_all(pair.sender, payload), read_to_end(pair.receiver)
    )
    assert received == payload
