"""IBB flow control on the wire, through the real Prosody: block-size agreement with a peer
that allows less than we offer, a window of data IQs in flight, a peer that acknowledges slowly,
JIDs that need escaping around the fast-serialised ``<data/>``."""

from __future__ import annotations

import asyncio
import base64
import os

import pytest
from slixmpp import ClientXMPP, Iq
from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath
from test_ibb_transport import Wire, connect_pair, context, open_pair, read_to_end, send_all

import slixmpp_jet.transports.ibb  # noqa: F401  (registers xep_0261)
from slixmpp_jet.transports.base import expect_sink
from slixmpp_jet.transports.ibb.plugin import XEP_0261
from slixmpp_jet.transports.ibb.stanza import IbbParameters, build_transport, register_stanzas

OFFERED = XEP_0261.default_config["block_size"]
"""The block-size we offer."""

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]


async def test_peer_that_allows_only_4096_gets_4096(accounts, client_factory) -> None:
    """We offer 32767; a peer whose limit is 4096 (Dino's and Libervia's offer, XEP-0047's
    recommendation) answers 4096, and no block on the wire is larger."""
    initiator, responder = await connect_pair(accounts, client_factory, max_block_size=4096)
    initiator.plugin["xep_0261"].block_size = 32767
    wire = Wire().watch(responder)
    pair = await open_pair(initiator, responder)
    assert pair.responder_transport.description().get("block-size") == "4096"
    assert pair.initiator_transport.block_size == 4096
    payload = os.urandom(100_000)
    _, received = await asyncio.gather(send_all(pair.sender, payload), read_to_end(pair.receiver))
    assert received == payload
    assert wire.opens == [4096]
    assert max(wire.lengths) == 4096
    assert sum(wire.lengths) == len(payload)


async def test_larger_blocks_when_both_allow_them(accounts, client_factory) -> None:
    initiator, responder = await connect_pair(accounts, client_factory)
    initiator.plugin["xep_0261"].block_size = 16384
    wire = Wire().watch(responder)
    pair = await open_pair(initiator, responder)
    payload = os.urandom(5 * 16384 + 3)
    _, received = await asyncio.gather(send_all(pair.sender, payload), read_to_end(pair.receiver))
    assert received == payload
    assert wire.opens == [16384]
    assert wire.lengths == [16384] * 5 + [3]


class SlowAcker:
    """A raw IBB receiver (no plugin) that acknowledges each block only after ``delay``,
    and records how many blocks were ever waiting for its acknowledgement at once."""

    def __init__(self, client: ClientXMPP, delay: float) -> None:
        register_stanzas()
        self.client = client
        self.delay = delay
        self.blocks: list[bytes] = []
        self.seqs: list[int] = []
        self.unacked = 0
        self.most_unacked = 0
        self.closed = asyncio.Event()
        self._acks: set[asyncio.Task[None]] = set()
        for name, path, handler in (
            ("slow open", "iq@type=set/ibb_open", self._answer),
            ("slow data", "iq@type=set/ibb_data", self._on_data),
            ("slow close", "iq@type=set/ibb_close", self._on_close),
        ):
            client.register_handler(Callback(name, StanzaPath(path), handler))

    def _answer(self, stanza: StanzaBase) -> None:
        stanza.reply().send()

    def _on_data(self, stanza: StanzaBase) -> None:
        payload = stanza["ibb_data"].xml
        self.seqs.append(int(payload.get("seq")))
        self.blocks.append(base64.b64decode(payload.text))
        self.unacked += 1
        self.most_unacked = max(self.most_unacked, self.unacked)
        task = asyncio.ensure_future(self._ack_later(stanza))
        self._acks.add(task)
        task.add_done_callback(self._acks.discard)

    async def _ack_later(self, iq: Iq) -> None:
        await asyncio.sleep(self.delay)
        self.unacked -= 1
        iq.reply().send()

    def _on_close(self, stanza: StanzaBase) -> None:
        stanza.reply().send()
        self.closed.set()

    async def drain(self) -> None:
        await asyncio.gather(*self._acks)


async def test_slow_acker_never_has_more_than_the_window(accounts, client_factory) -> None:
    alice, bob = accounts(2)
    sender = await client_factory(alice, "ibb", ["xep_0261"])
    sender.plugin["xep_0261"].window = 6
    peer = await client_factory(bob, "raw", [])
    slow = SlowAcker(peer, delay=0.05)
    plugin = sender.plugin["xep_0261"]
    offer = await plugin.create_session(context(sender, peer, initiator=True, sending=True))
    offer.accept_remote(build_transport(IbbParameters(offer.sid, OFFERED)))
    sink = expect_sink(await offer.establish())
    payload = os.urandom(40 * OFFERED + 11)
    await send_all(sink, payload)  # finish() returns once every block is acknowledged
    await asyncio.wait_for(slow.closed.wait(), 30)
    await slow.drain()
    assert b"".join(slow.blocks) == payload
    assert slow.seqs == list(range(41))
    assert slow.most_unacked == 6  # the window filled, and was never exceeded


async def test_jids_that_need_escaping_around_fast_data(accounts, client_factory) -> None:
    """The resource's '&', quotes and angle brackets are escaped in the data IQ's 'to'."""
    alice, bob = accounts(2)
    initiator = await client_factory(alice, "a&'\"<b>", ["xep_0261"])
    responder = await client_factory(bob, "c>A</d", ["xep_0261"])
    pair = await open_pair(initiator, responder)
    payload = os.urandom(50_000)
    _, received = await asyncio.gather(send_all(pair.sender, payload), read_to_end(pair.receiver))
    assert received == payload
