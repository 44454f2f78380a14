"""Whole transfers over the WebRTC data channel (real aiortc, real Prosody) and its fallbacks."""

from __future__ import annotations

import asyncio
import signal
import sys

import pytest
import pytest_asyncio
from cli_helpers import json_lines
from ft_helpers import Corrupting, Receiver, WireRecorder, leftovers, make_file
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from slixmpp_jet import JetError, Reason, TransferCancelled, TransferError
from slixmpp_jet.file_transfer import channel as channel_module
from slixmpp_jet.file_transfer import job as job_module
from slixmpp_jet.file_transfer import plugin as ft_plugin_module
from slixmpp_jet.jingle import Action
from slixmpp_jet.jingle import plugin as jingle_plugin_module
from slixmpp_jet.testing.clients import connect, disconnect, make_client
from slixmpp_jet.testing.demo import write_random_file
from slixmpp_jet.testing.loopback import second_loopback
from slixmpp_jet.testing.prosody import PROXY_JID, free_port
from slixmpp_jet.transports.s5b import StreamHost
from slixmpp_jet.transports.webrtc import aiortc_available

pytest.importorskip("aiortc", reason="the webrtc extra (aiortc) is not installed")
from rtc_spies import Links, RemoteCandidates

pytestmark = pytest.mark.xmpp
WEBRTC = "urn:xmpp:jingle:transports:webrtc-datachannel:1"
S5B = "urn:xmpp:jingle:transports:s5b:1"
IBB = "urn:xmpp:jingle:transports:ibb:1"
PLUGIN = "jingle_webrtc_datachannel"
MIB = 1024 * 1024
NO_ICE = {"relay_only": True, "connect_timeout": 3.0}
"""Relay candidates only and no TURN server: this side has no candidate, ICE cannot connect."""


@pytest.fixture(scope="module", autouse=True)
def host_candidate():
    """A loopback address aioice offers as a host candidate (it skips 127.0.0.1)."""
    try:
        with second_loopback() as address:
            yield address
    except PermissionError as error:
        pytest.skip(f"no second loopback address for ICE: {error}")


@pytest_asyncio.fixture
async def clients(prosody, accounts):
    """``await clients(alice_config, bob_config, ...)``: connected clients with the data-channel
    plugin configured so (``None``: without it); ``s5b=`` configures SOCKS5 on both."""
    made = []

    async def create(*configs, s5b=None):
        result = []
        for account, resource, config in zip(accounts(len(configs)), "abc", configs, strict=False):
            client = make_client(prosody, account, resource)
            if s5b is not None:
                client.register_plugin("xep_0260", dict(s5b))
            if config is not None:
                client.register_plugin(PLUGIN, dict(config))
            client.register_plugin("xep_0234")
            made.append(client)
            await connect(client, prosody)
            result.append(client)
        return result

    yield create
    for client in made:
        await disconnect(client)


@pytest_asyncio.fixture
async def jet_pair(accounts, jet_client):
    alice_account, bob_account = accounts(2)
    pair = await jet_client(alice_account, "a"), await jet_client(bob_account, "b")
    for client in pair:
        client.register_plugin(PLUGIN)
    return pair


async def offer(alice, bob, source, inbox, **options):
    receiver = Receiver(bob, inbox)
    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, **options)
    return await asyncio.gather(sent, await receiver.next_transfer(60))


class Proposals:
    """Every transport-replace the initiator sends, by namespace (wraps the real method)."""

    def __init__(self, monkeypatch) -> None:
        self.namespaces: list[str] = []
        real = channel_module.ContentChannel.propose

        async def propose(channel, namespace):
            self.namespaces.append(namespace)
            await real(channel, namespace)

        monkeypatch.setattr(channel_module.ContentChannel, "propose", propose)


@pytest.mark.asyncio
async def test_offer_goes_over_the_data_channel_when_both_have_it(clients, dirs) -> None:
    alice, bob = await clients({}, {})
    outbox, inbox = dirs
    source = make_file(outbox, "rtc.bin", 5 * MIB + 3)
    sent, received = await offer(alice, bob, source, inbox)
    assert sent.transport == received.transport == WEBRTC
    assert received.sha256 == sent.sha256
    assert (inbox / "rtc.bin").read_bytes() == source.read_bytes()
    assert leftovers(inbox) == ["rtc.bin"]


@pytest.mark.asyncio
async def test_request_goes_over_the_data_channel(clients, dirs) -> None:
    """The requester makes the SDP offer and receives; the responder answers and sends."""
    alice, bob = await clients({}, {})
    outbox, inbox = dirs
    source = make_file(outbox, "asked.bin", MIB)
    bob.plugin["xep_0234"].serve(outbox)
    transfer = await alice.plugin["xep_0234"].request_file(bob.boundjid, inbox, name="asked.bin")
    result = await transfer
    assert result.transport == WEBRTC
    assert (inbox / "asked.bin").read_bytes() == source.read_bytes()


@pytest.mark.asyncio
async def test_every_peer_connection_is_closed_after_a_transfer(clients, dirs, monkeypatch) -> None:
    links = Links(monkeypatch)
    alice, bob = await clients({}, {})
    outbox, inbox = dirs
    source = make_file(outbox, "done.bin", 300_000)
    await offer(alice, bob, source, inbox)
    assert len(links.made) == 2
    assert await links.all_closed()


@pytest.mark.asyncio
async def test_cancel_mid_stream_ends_both_sides_and_closes_the_channel(
    clients, dirs, monkeypatch
) -> None:
    links = Links(monkeypatch)
    alice, bob = await clients({}, {})
    outbox, inbox = dirs
    halfway = asyncio.Event()
    bob.add_event_handler("jingle_transfer_progress", lambda transfer: halfway.set())
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "cut.bin", 32 * MIB)
    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source)
    received = await receiver.next_transfer()
    await asyncio.wait_for(halfway.wait(), 30)
    received.cancel()
    with pytest.raises(TransferCancelled):
        await received
    with pytest.raises(TransferError, match="cancel"):
        await sent
    assert received.transport == WEBRTC
    assert leftovers(inbox) == []
    assert await links.all_closed()


@pytest.mark.asyncio
async def test_candidates_sent_before_the_offer_is_answered_are_kept(
    clients, dirs, monkeypatch
) -> None:
    """The initiator trickles right after session-initiate, as Conversations does; the
    receiver's person takes a while to accept."""
    candidates = RemoteCandidates(monkeypatch)
    alice, bob = await clients({}, {})
    outbox, inbox = dirs
    accepted = asyncio.Queue()

    async def accept_later(file_offer) -> None:
        await asyncio.sleep(1.0)
        await accepted.put(await file_offer.accept(inbox))

    bob.add_event_handler("jingle_file_offer", accept_later)
    source = make_file(outbox, "patient.bin", 200_000)
    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source)
    received = await asyncio.wait_for(accepted.get(), 30)
    sent_result, received_result = await asyncio.gather(sent, received)
    assert sent_result.transport == received_result.transport == WEBRTC
    assert (inbox / "patient.bin").read_bytes() == source.read_bytes()
    assert len(candidates.links) == 2, "each side was given the other's candidates"


@pytest.mark.asyncio
async def test_peer_features_are_asked_once_and_bounded(clients, dirs, monkeypatch) -> None:
    """Whether a peer has the data channel is asked once per client (disco#info); with room
    for one, sending to bob, bob, carol, bob asks bob twice."""
    monkeypatch.setattr(ft_plugin_module, "PEER_FEATURES_MAX", 1)
    alice, bob, carol = await clients({}, {}, {})
    asked: list[str] = []
    for peer in (bob, carol):
        peer.register_handler(
            Callback(
                f"disco asked {peer.boundjid}",
                MatchXPath("{jabber:client}iq/{http://jabber.org/protocol/disco#info}query"),
                lambda iq: asked.append(iq["to"].full),
            )
        )
    outbox, inbox = dirs
    source = make_file(outbox, "small.bin", 1000)
    receivers = {bob: Receiver(bob, inbox), carol: Receiver(carol, inbox)}
    for peer in (bob, bob, carol, bob):
        sent = await alice.plugin["xep_0234"].send_file(peer.boundjid, source)
        results = await asyncio.gather(sent, await receivers[peer].next_transfer())
        assert {result.transport for result in results} == {WEBRTC}
        (inbox / "small.bin").unlink()
    assert asked == [bob.boundjid.full, carol.boundjid.full, bob.boundjid.full]


@pytest.mark.asyncio
async def test_peer_without_the_data_channel_gets_socks5(clients, dirs) -> None:
    alice, bob = await clients({}, None)
    outbox, inbox = dirs
    source = make_file(outbox, "classic.bin", 100_000)
    sent, received = await offer(alice, bob, source, inbox)
    assert sent.transport == received.transport == S5B
    assert (inbox / "classic.bin").read_bytes() == source.read_bytes()


@pytest.fixture
def without_aiortc(monkeypatch):
    """As if the webrtc extra were not installed: ``import aiortc`` fails."""
    monkeypatch.setitem(sys.modules, "aiortc", None)
    aiortc_available.cache_clear()
    yield
    aiortc_available.cache_clear()


@pytest.mark.asyncio
async def test_without_aiortc_the_feature_is_not_advertised(clients, dirs, without_aiortc) -> None:
    alice, bob = await clients({}, {})
    info = await alice.plugin["xep_0030"].get_info(jid=bob.boundjid, timeout=10)
    assert WEBRTC not in info["disco_info"]["features"]
    assert S5B in info["disco_info"]["features"]
    outbox, inbox = dirs
    source = make_file(outbox, "plain-old.bin", 50_000)
    sent, received = await offer(alice, bob, source, inbox)
    assert sent.transport == received.transport == S5B


@pytest.mark.asyncio
async def test_encrypted_offer_over_the_data_channel(jet_pair, dirs, monkeypatch) -> None:
    alice, bob = jet_pair
    outbox, inbox = dirs
    wire = WireRecorder(monkeypatch)
    plaintext = b"meet me at the usual place " * 40_000
    source = outbox / "secret.txt"
    source.write_bytes(plaintext)
    sent, received = await offer(alice, bob, source, inbox, encrypt="omemo", transport="webrtc")
    assert sent.transport == received.transport == WEBRTC
    assert received.security.envelope == "omemo"
    assert (inbox / "secret.txt").read_bytes() == plaintext
    assert len(wire.data) == len(plaintext) + 16
    assert b"meet me" not in wire.data


@pytest.mark.asyncio
async def test_tampered_byte_over_the_data_channel_leaves_no_file(
    jet_pair, dirs, monkeypatch
) -> None:
    alice, bob = jet_pair
    outbox, inbox = dirs
    monkeypatch.setattr(Corrupting, "mode", "ciphertext")
    monkeypatch.setattr(job_module, "EncryptingSink", Corrupting)
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "victim.bin", 300_000)
    sent = await alice.plugin["xep_0234"].send_file(
        bob.boundjid, source, encrypt="omemo", transport="webrtc"
    )
    received = await receiver.next_transfer()
    with pytest.raises(JetError) as refused:
        await received
    assert refused.value.reason is Reason.SECURITY_ERROR
    with pytest.raises(TransferError, match="security-error"):
        await sent
    assert received.transport == WEBRTC
    assert leftovers(inbox) == []


async def falls_back_to_socks5(clients, dirs, monkeypatch, name, configs=({}, NO_ICE)) -> None:
    """An offer whose ICE cannot connect ends up whole over SOCKS5, and only there."""
    proposals = Proposals(monkeypatch)
    alice, bob = await clients(*configs)
    outbox, inbox = dirs
    source = make_file(outbox, name, MIB)
    sent, received = await offer(alice, bob, source, inbox)
    assert proposals.namespaces == [S5B]
    assert sent.transport == received.transport == S5B
    assert (inbox / name).read_bytes() == source.read_bytes()


@pytest.mark.asyncio
async def test_falls_back_to_socks5_when_ice_cannot_connect(clients, dirs, monkeypatch) -> None:
    await falls_back_to_socks5(clients, dirs, monkeypatch, "detour.bin")


def hold_back_acks_of_transport_accept(monkeypatch, seconds: float = 2.0) -> None:
    """We learn that the peer took our transport-accept ``seconds`` late, as on a busy link."""
    real = jingle_plugin_module.Session.send

    async def send(session, action, *args, **kwargs):
        await real(session, action, *args, **kwargs)
        if action is Action.TRANSPORT_ACCEPT:
            await asyncio.sleep(seconds)

    monkeypatch.setattr(jingle_plugin_module.Session, "send", send)


@pytest.mark.asyncio
async def test_socks5_notices_that_overtake_the_ack_of_our_transport_accept_are_taken(
    clients, dirs, monkeypatch
) -> None:
    """The initiator acts on our transport-accept at once: its candidate-used can reach us
    before its acknowledgement does."""
    hold_back_acks_of_transport_accept(monkeypatch)
    configs = ({"connect_timeout": 5.0}, NO_ICE)
    await falls_back_to_socks5(clients, dirs, monkeypatch, "overtaken.bin", configs)


@pytest.mark.asyncio
async def test_the_replaced_transport_failing_late_does_not_count_against_its_replacement(
    clients, dirs, monkeypatch
) -> None:
    """The initiator's ICE gives up at 3 s and it proposes SOCKS5; ours gives up at 4 s, while
    our transport-accept is still on its way: that failure is the data channel's, not SOCKS5's."""
    hold_back_acks_of_transport_accept(monkeypatch)
    configs = (NO_ICE, {"connect_timeout": 4.0})
    await falls_back_to_socks5(clients, dirs, monkeypatch, "late.bin", configs)


@pytest.mark.asyncio
async def test_falls_back_to_socks5_then_ibb(clients, dirs, monkeypatch) -> None:
    proposals = Proposals(monkeypatch)
    no_socks5 = {"direct": False, "proxies": [StreamHost(PROXY_JID, "127.0.0.1", free_port())]}
    alice, bob = await clients(NO_ICE, {}, s5b=no_socks5)
    outbox, inbox = dirs
    source = make_file(outbox, "last-resort.bin", 200_000)
    sent, received = await offer(alice, bob, source, inbox)
    assert proposals.namespaces == [S5B, IBB]
    assert sent.transport == received.transport == IBB
    assert (inbox / "last-resort.bin").read_bytes() == source.read_bytes()
    assert leftovers(inbox) == ["last-resort.bin"]


def test_cli_transport_webrtc(accounts, cli, tmp_path) -> None:
    alice, bob = accounts(2)
    inbox = tmp_path / "in"
    inbox.mkdir()
    source = tmp_path / "a.bin"
    write_random_file(source, 300_000)
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--count", "1", "--json",
                         "--encrypt", "none", "--transport", "webrtc", resource="r")  # fmt: skip
    sent = cli(alice, "send", "--to", f"{bob.jid}/r", "--encrypt", "none", "--json",
               "--transport", "webrtc", str(source))  # fmt: skip
    received = receiver.finish()
    assert sent.status == 0, sent.stderr
    assert received.status == 0, received.stderr
    [record] = json_lines(received.stdout)
    assert record["transport"] == "webrtc"
    for run in (sent, received):
        assert "Task" not in run.stderr, run.stderr  # every peer connection closed in time
    assert (inbox / "a.bin").read_bytes() == source.read_bytes()


@pytest.mark.asyncio
async def test_a_receiver_that_freezes_mid_stream_ends_the_sender(
    prosody, accounts, cli, tmp_path
) -> None:
    """A real process stopped (SIGSTOP) in the middle: no more acknowledgements on the data
    channel, no more stanzas. The sender's idle timeout ends the session; once the receiver
    runs again it ends too, and keeps nothing."""
    alice_account, bob = accounts(2)
    inbox = tmp_path / "in"
    inbox.mkdir()
    source = tmp_path / "frozen.bin"
    write_random_file(source, 64 * MIB)
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--count", "1", "--json",
                         "--encrypt", "none", "--transport", "webrtc", resource="r")  # fmt: skip
    alice = make_client(prosody, alice_account, "a")
    alice.register_plugin("xep_0166", {"iq_timeout": 5.0})  # its terminate is not answered
    alice.register_plugin(PLUGIN)
    alice.register_plugin("xep_0234", {"idle_timeout": 3.0})
    await connect(alice, prosody)
    try:
        sent = await alice.plugin["xep_0234"].send_file(f"{bob.jid}/r", source, transport="webrtc")
        while sent.progress < MIB:
            await asyncio.sleep(0.05)
        receiver.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(TransferError) as ended:
                await asyncio.wait_for(sent, 60)
        finally:
            receiver.send_signal(signal.SIGCONT)
        assert ended.value.reason is Reason.TIMEOUT
        assert sent.transport == WEBRTC
        receiver.wait_for('"outcome"')
        [record] = json_lines(receiver.stop().stdout)
        assert record["outcome"] != "completed"
        assert leftovers(inbox) == []
    finally:
        await disconnect(alice)
