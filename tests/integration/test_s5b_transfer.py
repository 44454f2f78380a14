"""Two xep_0260 transports wired in-process, over real sockets and the real Prosody proxy65.

Each side's ``send_transport_info`` hands the element (serialized and parsed again, as on the
wire) to the other side's ``handle_info``; everything else is real: listeners, SOCKS5
handshakes, proxy discovery and activation, 20 MiB of bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from xml.etree import ElementTree as ET

import pytest

import slixmpp_jet.transports.s5b  # noqa: F401  (registers xep_0260)
from slixmpp_jet.errors import Reason, TransportError
from slixmpp_jet.testing.prosody import PROXY_JID, free_port
from slixmpp_jet.transports.base import (
    ByteSink,
    ByteSource,
    TransportContext,
    expect_sink,
    expect_source,
)
from slixmpp_jet.transports.s5b import S5BSession, StreamHost
from slixmpp_jet.transports.s5b.candidates import CandidateType, dstaddr

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio, pytest.mark.timeout(60)]

PAYLOAD = os.urandom(20 * 1024 * 1024)
CHUNK = 64 * 1024
NO_DIRECT = {"direct": False}
NO_CANDIDATES = {"direct": False, "use_proxy": False}
DIRECTIONS = ["initiator-sends", "responder-sends"]


def _reparsed(element: ET.Element) -> ET.Element:
    return ET.fromstring(ET.tostring(element))


@dataclass
class Pair:
    """An initiator and a responder transport, wired to each other."""

    initiator: S5BSession
    responder: S5BSession
    initiator_got_notice: asyncio.Event
    responder_got_notice: asyncio.Event


async def _clients(accounts, client_factory, initiator_config, responder_config):
    alice, bob = accounts(2)
    a = await client_factory(alice, "a", [])
    b = await client_factory(bob, "b", [])
    a.register_plugin("xep_0260", dict(initiator_config))
    b.register_plugin("xep_0260", dict(responder_config))
    return a, b


async def _wire(a, b, *, initiator_sends: bool, tamper_offer=None, tamper_answer=None) -> Pair:
    sessions: dict[str, S5BSession] = {}
    initiator_got_notice, responder_got_notice = asyncio.Event(), asyncio.Event()

    async def to_initiator(transport: ET.Element) -> None:
        await sessions["initiator"].handle_info(_reparsed(transport))
        initiator_got_notice.set()

    async def to_responder(transport: ET.Element) -> None:
        await sessions["responder"].handle_info(_reparsed(transport))
        responder_got_notice.set()

    def context(client, peer, initiator: bool, send) -> TransportContext:
        return TransportContext(
            sid="jingle-sid",
            content_name="file",
            local_jid=client.boundjid.full,
            peer_jid=peer.boundjid.full,
            initiator=initiator,
            sending=initiator == initiator_sends,
            send_transport_info=send,
        )

    initiator = await a.plugin["xep_0260"].create_session(context(a, b, True, to_responder))
    sessions["initiator"] = initiator
    offer = _reparsed(initiator.description())
    if tamper_offer is not None:
        tamper_offer(offer)
    responder = await b.plugin["xep_0260"].create_session(context(b, a, False, to_initiator), offer)
    sessions["responder"] = responder
    answer = _reparsed(responder.description())
    if tamper_answer is not None:
        tamper_answer(answer)
    initiator.accept_remote(answer)
    return Pair(initiator, responder, initiator_got_notice, responder_got_notice)


async def _establish_both(pair: Pair) -> tuple[ByteSource | ByteSink, ByteSource | ByteSink]:
    return await asyncio.gather(pair.initiator.establish(), pair.responder.establish())


async def _send_all(end: ByteSource | ByteSink) -> None:
    sink = expect_sink(end)
    for start in range(0, len(PAYLOAD), CHUNK):
        await sink.write(PAYLOAD[start : start + CHUNK])
    await sink.finish()


async def _receive_all(end: ByteSource | ByteSink) -> bytes:
    source = expect_source(end)
    received = bytearray()
    while chunk := await source.read():
        received += chunk
    source.abort()
    return bytes(received)


async def _transfer(pair: Pair) -> bytes:
    """Establish both sides, send PAYLOAD in the negotiated direction, return what arrived."""
    first, second = await _establish_both(pair)
    sender, receiver = (first, second) if isinstance(first, ByteSink) else (second, first)
    assert isinstance(receiver, ByteSource)
    _, received = await asyncio.gather(_send_all(sender), _receive_all(receiver))
    return received


def _assert_identical(received: bytes) -> None:
    assert len(received) == len(PAYLOAD)
    assert hashlib.sha256(received).digest() == hashlib.sha256(PAYLOAD).digest()


@pytest.mark.parametrize("initiator_sends", [True, False], ids=DIRECTIONS)
async def test_direct_transfer(accounts, client_factory, initiator_sends) -> None:
    a, b = await _clients(accounts, client_factory, {}, {})
    pair = await _wire(a, b, initiator_sends=initiator_sends)
    _assert_identical(await _transfer(pair))
    assert pair.initiator.nominated == pair.responder.nominated
    assert pair.initiator.nominated is not None
    assert pair.initiator.nominated.type is CandidateType.DIRECT


@pytest.mark.parametrize("initiator_sends", [True, False], ids=DIRECTIONS)
async def test_proxy_transfer(accounts, client_factory, initiator_sends) -> None:
    a, b = await _clients(accounts, client_factory, NO_DIRECT, NO_DIRECT)
    pair = await _wire(a, b, initiator_sends=initiator_sends)
    offered = pair.initiator.candidates
    assert [c.type for c in offered] == [CandidateType.PROXY]
    assert offered[0].jid == PROXY_JID
    assert pair.responder.candidates == ()  # the same proxy is never offered twice
    _assert_identical(await _transfer(pair))
    assert pair.responder.nominated == offered[0]


async def test_notices_before_establish_are_kept(accounts, client_factory) -> None:
    a, b = await _clients(accounts, client_factory, NO_DIRECT, NO_DIRECT)
    pair = await _wire(a, b, initiator_sends=True)
    initiator = asyncio.ensure_future(pair.initiator.establish())
    await pair.responder_got_notice.wait()  # candidate-error reached a responder not yet running
    responder = await pair.responder.establish()
    sender = expect_sink(await initiator)
    await sender.write(b"early notices were not lost")
    await sender.finish()
    assert await expect_source(responder).read() == b"early notices were not lost"
    responder.abort()


async def test_no_candidates_fails_on_both_sides(accounts, client_factory) -> None:
    a, b = await _clients(accounts, client_factory, NO_CANDIDATES, NO_CANDIDATES)
    pair = await _wire(a, b, initiator_sends=True)
    results = await asyncio.gather(
        pair.initiator.establish(), pair.responder.establish(), return_exceptions=True
    )
    for result in results:
        assert isinstance(result, TransportError)
        assert result.reason is Reason.CONNECTIVITY_ERROR


async def test_unreachable_proxy_fails_on_both_sides(accounts, client_factory) -> None:
    closed = StreamHost(PROXY_JID, "127.0.0.1", free_port())
    config = {"direct": False, "proxies": [closed]}
    a, b = await _clients(accounts, client_factory, config, config)
    pair = await _wire(a, b, initiator_sends=True)
    assert [c.endpoint for c in pair.initiator.candidates] == [(closed.host, closed.port)]
    results = await asyncio.gather(
        pair.initiator.establish(), pair.responder.establish(), return_exceptions=True
    )
    assert all(isinstance(result, TransportError) for result in results)


async def test_failed_activation_sends_proxy_error(accounts, client_factory) -> None:
    """The responder reaches the proxy under a wrong DST.ADDR, so activation must fail."""

    def wrong_dstaddr(offer: ET.Element) -> None:
        offer.set("dstaddr", "0" * 40)

    a, b = await _clients(accounts, client_factory, NO_DIRECT, NO_DIRECT)
    pair = await _wire(a, b, initiator_sends=True, tamper_offer=wrong_dstaddr)
    initiator, responder = await asyncio.gather(
        pair.initiator.establish(), pair.responder.establish(), return_exceptions=True
    )
    assert isinstance(initiator, TransportError)
    assert "did not activate" in str(initiator)
    assert isinstance(responder, TransportError)
    assert "could not use its proxy" in str(responder)


async def test_listener_accepts_initiator_then_responder_order(accounts, client_factory) -> None:
    """An old Conversations initiator hashes sid + initiator + responder for our candidates."""

    a, b = await _clients(accounts, client_factory, NO_CANDIDATES, {"use_proxy": False})

    def legacy_dstaddr(answer: ET.Element) -> None:
        answer.set("dstaddr", dstaddr(answer.get("sid", ""), a.boundjid.full, b.boundjid.full))

    pair = await _wire(a, b, initiator_sends=True, tamper_answer=legacy_dstaddr)
    _assert_identical(await _transfer(pair))
    assert pair.responder.nominated in pair.responder.candidates


async def test_close_ends_a_waiting_establish(accounts, client_factory) -> None:
    a, b = await _clients(accounts, client_factory, NO_DIRECT, NO_DIRECT)
    pair = await _wire(a, b, initiator_sends=True)
    waiting = asyncio.ensure_future(pair.responder.establish())  # the initiator never reports
    await pair.initiator_got_notice.wait()  # the responder has reported and now waits
    pair.responder.close()
    with pytest.raises(TransportError, match="closed"):
        await waiting
    pair.initiator.close()
