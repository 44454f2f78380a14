"""IBB against bad peers on the real Prosody: strangers, bad seq, bad base64, vanishing peers."""

from __future__ import annotations

import asyncio
import os

import pytest
from slixmpp import ClientXMPP, Iq
from slixmpp.exceptions import IqError
from test_ibb_transport import (
    Wire,
    connect_pair,
    context,
    open_pair,
    read_to_end,
    send_all,
    until,
)

from slixmpp_jet.errors import TransportError
from slixmpp_jet.transports.ibb.plugin import XEP_0261

OFFERED = XEP_0261.default_config["block_size"]
"""The block-size we offer."""

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]


def crafted_data(sender: ClientXMPP, to: ClientXMPP, sid: str, seq: int, text: str) -> Iq:
    iq = sender.make_iq_set(ito=to.boundjid.full)
    iq["ibb_data"]["sid"] = sid
    iq["ibb_data"]["seq"] = seq
    iq["ibb_data"].xml.text = text
    return iq


async def refused_with(iq: Iq) -> str:
    with pytest.raises(IqError) as refused:
        await iq.send(timeout=10)
    return refused.value.condition


async def test_stranger_cannot_inject_into_a_live_stream(accounts, client_factory) -> None:
    initiator, responder = await connect_pair(accounts, client_factory)
    (mallory_account,) = accounts(1)
    mallory = await client_factory(mallory_account, "ibb", ["xep_0261"])
    wire = Wire().watch(responder)
    pair = await open_pair(initiator, responder)
    payload = os.urandom(400_000)
    sending = asyncio.ensure_future(send_all(pair.sender, payload))
    receiving = asyncio.ensure_future(read_to_end(pair.receiver))
    await until(lambda: len(wire.seqs) >= 2)
    injected = crafted_data(mallory, responder, pair.sid, wire.seqs[-1] + 1, "AAAA")
    assert await refused_with(injected) == "item-not-found"
    await sending
    assert await receiving == payload


@pytest.mark.parametrize(
    ("text", "condition"),
    [("QQ=A", "bad-request"), ("QQ", "bad-request"), ("Q*==", "bad-request")],
    ids=["padding-inside", "padding-missing", "outside-alphabet"],
)
async def test_invalid_base64_breaks_the_stream(accounts, client_factory, text, condition) -> None:
    initiator, responder = await connect_pair(accounts, client_factory)
    pair = await open_pair(initiator, responder)
    assert await refused_with(crafted_data(initiator, responder, pair.sid, 0, text)) == condition
    with pytest.raises(TransportError, match="base64"):
        await pair.receiver.read()


async def test_repeated_seq_breaks_the_stream(accounts, client_factory) -> None:
    initiator, responder = await connect_pair(accounts, client_factory)
    pair = await open_pair(initiator, responder)
    await crafted_data(initiator, responder, pair.sid, 0, "AAEC").send(timeout=10)
    repeat = crafted_data(initiator, responder, pair.sid, 0, "AwQF")
    assert await refused_with(repeat) == "unexpected-request"
    with pytest.raises(TransportError, match="seq 0 out of order"):
        await pair.receiver.read()


async def test_out_of_order_seq_breaks_both_ends(accounts, client_factory) -> None:
    initiator, responder = await connect_pair(accounts, client_factory)
    pair = await open_pair(initiator, responder)
    gap = crafted_data(initiator, responder, pair.sid, 1, "AAEC")
    assert await refused_with(gap) == "unexpected-request"
    with pytest.raises(TransportError, match="out of order"):
        await pair.receiver.read()
    with pytest.raises(TransportError):  # the receiver closed the stream behind it
        await send_all(pair.sender, b"too late")


async def test_block_larger_than_block_size_is_refused(accounts, client_factory) -> None:
    initiator, responder = await connect_pair(accounts, client_factory, max_block_size=2048)
    pair = await open_pair(initiator, responder)
    big = crafted_data(initiator, responder, pair.sid, 0, "A" * (4 * 1024))  # 3072 bytes
    assert await refused_with(big) == "bad-request"
    with pytest.raises(TransportError, match="exceeds block-size 2048"):
        await pair.receiver.read()


async def test_open_must_use_the_negotiated_block_size(accounts, client_factory) -> None:
    initiator, responder = await connect_pair(accounts, client_factory)
    offer = await initiator.plugin["xep_0261"].create_session(
        context(initiator, responder, initiator=True, sending=True)
    )
    answer = await responder.plugin["xep_0261"].create_session(
        context(responder, initiator, initiator=False, sending=False), remote=offer.description()
    )
    offer.accept_remote(answer.description())
    early = crafted_data(initiator, responder, offer.sid, 0, "AAEC")
    assert await refused_with(early) == "item-not-found"
    wrong = initiator.make_iq_set(ito=responder.boundjid.full)
    wrong["ibb_open"]["sid"] = offer.sid
    wrong["ibb_open"]["block_size"] = 1024
    assert await refused_with(wrong) == "resource-constraint"
    sender, receiver = await asyncio.gather(offer.establish(), answer.establish())
    _, received = await asyncio.gather(send_all(sender, b"still fine"), read_to_end(receiver))
    assert received == b"still fine"


async def test_responder_gives_up_when_nobody_opens(accounts, client_factory) -> None:
    initiator, responder = await connect_pair(accounts, client_factory, open_timeout=0.5)
    offer = await initiator.plugin["xep_0261"].create_session(
        context(initiator, responder, initiator=True, sending=True)
    )
    answer = await responder.plugin["xep_0261"].create_session(
        context(responder, initiator, initiator=False, sending=False), remote=offer.description()
    )
    with pytest.raises(TransportError, match="did not open"):
        await answer.establish()
    offer.accept_remote(answer.description())
    with pytest.raises(TransportError, match="refused the open"):
        await offer.establish()


async def test_receiver_that_aborts_stops_the_sender(accounts, client_factory) -> None:
    initiator, responder = await connect_pair(accounts, client_factory)
    pair = await open_pair(initiator, responder, initiator_sends=False)
    sending = asyncio.ensure_future(send_all(pair.sender, os.urandom(1024 * 1024)))
    assert await pair.receiver.read()
    pair.receiver.abort()
    with pytest.raises(TransportError):
        await sending
    with pytest.raises(TransportError, match="closed by us"):
        await pair.receiver.read()


async def test_receiver_that_vanishes_stops_the_sender(accounts, client_factory) -> None:
    initiator, responder = await connect_pair(accounts, client_factory)
    pair = await open_pair(initiator, responder)
    sending = asyncio.ensure_future(send_all(pair.sender, os.urandom(1024 * 1024)))
    assert await pair.receiver.read()
    responder.disconnect(wait=False)
    with pytest.raises(TransportError):
        await sending


async def test_initiator_accepts_an_open_from_the_responder(accounts, client_factory) -> None:
    """A peer that opens although it is not the Jingle initiator still gets its data through."""
    initiator, responder = await connect_pair(accounts, client_factory)
    offer = await initiator.plugin["xep_0261"].create_session(
        context(initiator, responder, initiator=True, sending=False)
    )
    offer.accept_remote(offer.description())  # the peer answers with the same parameters
    foreign_open = responder.make_iq_set(ito=initiator.boundjid.full)
    foreign_open["ibb_open"]["sid"] = offer.sid
    foreign_open["ibb_open"]["block_size"] = OFFERED
    await foreign_open.send(timeout=10)
    stream = await offer.establish()
    for seq, text in enumerate(["aGVsbG8g", "d29ybGQ="]):
        await crafted_data(responder, initiator, offer.sid, seq, text).send(timeout=10)
    assert await stream.read() == b"hello world"


async def test_disabling_the_plugin_tears_live_streams_down(accounts, client_factory) -> None:
    initiator, responder = await connect_pair(accounts, client_factory)
    pair = await open_pair(initiator, responder)
    responder.plugin.disable("xep_0261")
    with pytest.raises(TransportError, match="closed by us"):
        await pair.receiver.read()
    with pytest.raises(TransportError):
        await send_all(pair.sender, b"nobody listens")
