"""One S5B transport session against a scripted peer, on real loopback sockets.

The test plays the peer: it connects to our listener with a real SOCKS5 client, sends the
peer's notices through ``handle_info`` and records ours. A :class:`DirectListener` stands in
for a proxy's SOCKS5 side (the Prosody proxy itself is exercised in the integration tests).
"""

from __future__ import annotations

import asyncio
from xml.etree import ElementTree as ET

import pytest
from slixmpp import Iq
from slixmpp.exceptions import IqError, IqTimeout

from slixmpp_jet.errors import ProtocolError, Reason, TransportError
from slixmpp_jet.transports.base import TransportContext
from slixmpp_jet.transports.s5b import socks5
from slixmpp_jet.transports.s5b.candidates import Candidate, CandidateType, dstaddr
from slixmpp_jet.transports.s5b.listener import DirectListener
from slixmpp_jet.transports.s5b.proxy import StreamHost
from slixmpp_jet.transports.s5b.session import S5BSession, Settings
from slixmpp_jet.transports.s5b.stream import SocketSink, SocketSource
from slixmpp_jet.transports.s5b.wire import (
    Activated,
    CandidateError,
    CandidateUsed,
    Notice,
    Offer,
    ProxyError,
    build_notice,
    build_offer,
    parse_notice,
    parse_offer,
)

pytestmark = pytest.mark.asyncio

US = "juliet@capulet.lit/balcony"
PEER = "romeo@montague.lit/orchard"
SID = "vj3hs98y"
PROXY_JID = "proxy.capulet.lit"
QUICK = Settings(connect_timeout=5, negotiation_timeout=20)


class ScriptedPeer:
    """Records the notices our session sends, and the activations it asks for."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []
        self.activations: list[tuple[str, str, str]] = []
        self.activation_error: TransportError | None = None
        self.gone: Exception | None = None
        self._sent = asyncio.Event()

    async def send_transport_info(self, transport: ET.Element) -> None:
        if self.gone is not None:
            raise self.gone
        _, notice = parse_notice(ET.fromstring(ET.tostring(transport)))
        self.notices.append(notice)
        self._sent.set()

    async def first_notice(self) -> Notice:
        await self._sent.wait()
        return self.notices[0]

    async def activate(self, proxy: str, sid: str, target: str) -> None:
        self.activations.append((proxy, sid, target))
        if self.activation_error is not None:
            raise self.activation_error

    def context(self, *, initiator: bool, sending: bool = False) -> TransportContext:
        return TransportContext(
            sid="jingle-sid",
            content_name="file",
            local_jid=US,
            peer_jid=PEER,
            initiator=initiator,
            sending=sending,
            send_transport_info=self.send_transport_info,
        )


async def open_session(
    peer: ScriptedPeer,
    remote: Offer | None = None,
    *,
    initiator: bool = False,
    sending: bool = False,
    addresses: tuple[str, ...] = ("127.0.0.1",),
    proxies: tuple[StreamHost, ...] = (),
    settings: Settings = QUICK,
) -> S5BSession:
    return await S5BSession.create(
        peer.context(initiator=initiator, sending=sending),
        build_offer(remote) if remote is not None else None,
        settings,
        addresses=addresses,
        port_range=None,
        proxies=proxies,
        activate=peer.activate,
    )


async def notify(session: S5BSession, notice: Notice) -> None:
    await session.handle_info(build_notice(session.sid, notice))


async def stand_in_proxy(address: str) -> tuple[DirectListener, tuple[str, int]]:
    proxy = DirectListener({address}, 5)
    endpoint = await proxy.listen("127.0.0.1")
    assert endpoint is not None
    return proxy, endpoint


# --- offers ------------------------------------------------------------------------------


async def test_responder_echoes_sid_and_never_reoffers_the_initiators_endpoints() -> None:
    peer = ScriptedPeer()
    shared = StreamHost(PROXY_JID, "127.0.0.1", 7777)
    theirs = Candidate("c1", shared.host, shared.port, PROXY_JID, CandidateType.PROXY, 655360)
    other = StreamHost("proxy.montague.lit", "127.0.0.1", 7778)
    session = await open_session(peer, Offer(SID, None, (theirs,)), proxies=(shared, other))
    element = session.description()
    offer = parse_offer(element)
    assert offer.sid == SID
    assert element.get("mode") is None
    assert offer.dstaddr == dstaddr(SID, US, PEER)
    assert [(c.type, c.jid) for c in offer.candidates] == [
        (CandidateType.DIRECT, US),
        (CandidateType.PROXY, other.jid),
    ]
    assert (shared.host, shared.port) not in {c.endpoint for c in offer.candidates}
    assert offer.candidates[0].priority > offer.candidates[1].priority
    session.close()


async def test_initiator_makes_a_fresh_sid() -> None:
    first = await open_session(ScriptedPeer(), initiator=True, addresses=())
    second = await open_session(ScriptedPeer(), initiator=True, addresses=())
    assert first.sid != second.sid
    assert first.candidates == ()


# --- the peer connects to our candidate --------------------------------------------------


async def test_peer_uses_our_direct_candidate_before_we_establish() -> None:
    peer = ScriptedPeer()
    session = await open_session(peer, Offer(SID, None, ()))
    ours = session.candidates[0]
    client = await socks5.connect(ours.host, ours.port, dstaddr(SID, US, PEER), 5)
    await notify(session, CandidateUsed(ours.cid))  # arrives before establish()
    stream = await session.establish()
    assert isinstance(stream, SocketSource)
    assert peer.notices == [CandidateError()]
    assert session.nominated == ours
    client.writer.write(b"direct bytes")
    client.writer.write_eof()
    assert await stream.read() == b"direct bytes"
    assert await stream.read() == b""
    with pytest.raises(TransportError):  # the listener is gone once a stream is chosen
        await socks5.connect(ours.host, ours.port, dstaddr(SID, US, PEER), 5)
    client.abort()
    stream.abort()


async def test_the_sending_side_gets_a_sink_that_ends_with_eof() -> None:
    peer = ScriptedPeer()
    session = await open_session(peer, Offer(SID, None, ()), sending=True)
    ours = session.candidates[0]
    client = await socks5.connect(ours.host, ours.port, dstaddr(SID, US, PEER), 5)
    await notify(session, CandidateUsed(ours.cid))
    stream = await session.establish()
    assert isinstance(stream, SocketSink)
    await stream.write(b"our bytes")
    await stream.finish()
    assert await client.reader.read() == b"our bytes"
    client.abort()


async def test_hopeless_attempts_are_abandoned_after_the_peers_report() -> None:
    peer = ScriptedPeer()
    reached = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached.set()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    slow = Candidate("slow", host, port, PEER, CandidateType.PROXY, 1)
    patient = Settings(connect_timeout=60, negotiation_timeout=20)
    session = await open_session(peer, initiator=True, settings=patient)
    session.accept_remote(build_offer(Offer(session.sid, None, (slow,))))
    establishing = asyncio.ensure_future(session.establish())
    await reached.wait()  # our attempt on the silent candidate is under way
    ours = session.candidates[0]
    client = await socks5.connect(ours.host, ours.port, dstaddr(session.sid, US, PEER), 5)
    await session.handle_info(build_notice(session.sid, CandidateUsed(ours.cid)))
    stream = await establishing  # without abandoning, this would wait for the silent server
    assert session.nominated == ours
    assert len(peer.notices) == 1 and isinstance(peer.notices[0], CandidateError)
    stream.abort()
    client.abort()
    server.close()


# --- proxies -----------------------------------------------------------------------------


async def test_peer_proxy_is_used_only_after_activated() -> None:
    address = dstaddr(SID, PEER, US)
    proxy, (host, port) = await stand_in_proxy(address)
    theirs = Candidate("px", host, port, PROXY_JID, CandidateType.PROXY, 655360)
    peer = ScriptedPeer()
    session = await open_session(peer, Offer(SID, address, (theirs,)), addresses=())
    establishing = asyncio.ensure_future(session.establish())
    await notify(session, CandidateError())
    assert await peer.first_notice() == CandidateUsed("px")
    await asyncio.sleep(0.05)
    assert not establishing.done()  # waiting for <activated/>
    await notify(session, Activated("px"))
    stream = await establishing
    assert session.nominated == theirs
    relay = proxy.claim((host, port))
    assert relay is not None
    relay.writer.write(b"via proxy")
    assert await stream.read(9) == b"via proxy"
    stream.abort()
    relay.abort()
    proxy.close()


@pytest.mark.parametrize(
    ("notice", "message"),
    [(ProxyError(), "could not use its proxy"), (Activated("other"), "activated candidate")],
)
async def test_peer_proxy_failures(notice, message) -> None:
    address = dstaddr(SID, PEER, US)
    proxy, (host, port) = await stand_in_proxy(address)
    theirs = Candidate("px", host, port, PROXY_JID, CandidateType.PROXY, 655360)
    peer = ScriptedPeer()
    session = await open_session(peer, Offer(SID, address, (theirs,)), addresses=())
    await notify(session, CandidateError())
    await notify(session, notice)
    with pytest.raises(TransportError, match=message):
        await session.establish()
    proxy.close()


async def test_our_proxy_is_connected_activated_and_announced() -> None:
    peer = ScriptedPeer()
    proxy, (host, port) = await stand_in_proxy(dstaddr(SID, US, PEER))
    ours = StreamHost(PROXY_JID, host, port)
    session = await open_session(peer, Offer(SID, None, ()), addresses=(), proxies=(ours,))
    (candidate,) = session.candidates
    await notify(session, CandidateUsed(candidate.cid))
    stream = await session.establish()
    assert peer.activations == [(PROXY_JID, SID, PEER)]
    assert peer.notices == [CandidateError(), Activated(candidate.cid)]
    relay = proxy.claim((host, port))
    assert relay is not None  # we connected to it ourselves
    relay.abort()
    stream.abort()
    proxy.close()


async def test_failed_activation_sends_proxy_error() -> None:
    peer = ScriptedPeer()
    peer.activation_error = TransportError("proxy.capulet.lit said not-allowed")
    proxy, (host, port) = await stand_in_proxy(dstaddr(SID, US, PEER))
    session = await open_session(
        peer, Offer(SID, None, ()), addresses=(), proxies=(StreamHost(PROXY_JID, host, port),)
    )
    await notify(session, CandidateUsed(session.candidates[0].cid))
    with pytest.raises(TransportError, match="not-allowed") as caught:
        await session.establish()
    assert caught.value.reason is Reason.CONNECTIVITY_ERROR
    assert peer.notices == [CandidateError(), ProxyError()]
    proxy.close()


async def test_unreachable_own_proxy_sends_proxy_error() -> None:
    peer = ScriptedPeer()
    proxy, (host, port) = await stand_in_proxy(dstaddr(SID, US, PEER))
    proxy.close()  # nothing listens there any more
    session = await open_session(
        peer, Offer(SID, None, ()), addresses=(), proxies=(StreamHost(PROXY_JID, host, port),)
    )
    await notify(session, CandidateUsed(session.candidates[0].cid))
    with pytest.raises(TransportError, match="unusable"):
        await session.establish()
    assert peer.notices == [CandidateError(), ProxyError()]
    assert peer.activations == []


# --- failures and bad input --------------------------------------------------------------


async def test_no_peer_report_times_out() -> None:
    peer = ScriptedPeer()
    settings = Settings(connect_timeout=5, negotiation_timeout=0.3)
    session = await open_session(peer, Offer(SID, None, ()), addresses=(), settings=settings)
    with pytest.raises(TransportError, match="did not finish") as caught:
        await session.establish()
    assert caught.value.reason is Reason.TIMEOUT
    assert peer.notices == [CandidateError()]


def _unknown_session() -> IqError:
    iq = Iq(stype="error")
    iq["error"]["condition"] = "item-not-found"
    return IqError(iq)


@pytest.mark.parametrize(
    ("gone", "message"),
    [(IqTimeout(None), "did not acknowledge"), (_unknown_session(), "refused .*item-not-found")],
)
async def test_a_vanished_peer_fails_the_negotiation(gone, message) -> None:
    peer = ScriptedPeer()
    peer.gone = gone
    session = await open_session(peer, Offer(SID, None, ()), addresses=())
    with pytest.raises(TransportError, match=message):
        await session.establish()


async def test_establish_needs_the_peers_offer_and_runs_once() -> None:
    session = await open_session(ScriptedPeer(), initiator=True, addresses=())
    with pytest.raises(TransportError, match="not known yet"):
        await session.establish()
    session.accept_remote(build_offer(Offer(session.sid, None, ())))
    await notify(session, CandidateError())
    with pytest.raises(TransportError, match="neither party"):
        await session.establish()
    with pytest.raises(TransportError, match="already used"):
        await session.establish()


async def test_accept_remote_checks_the_sid_and_refuses_a_second_different_offer() -> None:
    session = await open_session(ScriptedPeer(), Offer(SID, None, ()), addresses=())
    with pytest.raises(ProtocolError, match="does not match"):
        session.accept_remote(build_offer(Offer("other-sid", None, ())))
    session.accept_remote(build_offer(Offer(SID, None, ())))  # the same offer again is fine
    changed = Offer(SID, None, (Candidate("c", "10.0.0.1", 1, PEER, CandidateType.DIRECT, 1),))
    with pytest.raises(ProtocolError, match="already known"):
        session.accept_remote(build_offer(changed))
    session.close()


async def test_bad_notices_are_protocol_errors() -> None:
    session = await open_session(ScriptedPeer(), Offer(SID, None, ()))
    wrong_sid = build_notice("other-sid", CandidateError())
    with pytest.raises(ProtocolError, match="other-sid"):
        await session.handle_info(wrong_sid)
    with pytest.raises(ProtocolError, match="never offered") as unknown:
        await notify(session, CandidateUsed("not-ours"))
    assert unknown.value.condition == "item-not-found"
    await notify(session, CandidateError())
    with pytest.raises(ProtocolError, match="already reported") as twice:
        await notify(session, CandidateUsed(session.candidates[0].cid))
    assert twice.value.jingle_condition == "out-of-order"
    await notify(session, Activated("x"))
    with pytest.raises(ProtocolError, match="already sent"):
        await notify(session, Activated("x"))
    session.close()


async def test_close_during_establish_raises_transport_error() -> None:
    peer = ScriptedPeer()
    session = await open_session(peer, Offer(SID, None, ()), addresses=())
    establishing = asyncio.ensure_future(session.establish())
    assert await peer.first_notice() == CandidateError()  # now waiting for the peer's report
    session.close()
    with pytest.raises(TransportError, match="closed while negotiating"):
        await establishing
    session.close()  # twice is fine
