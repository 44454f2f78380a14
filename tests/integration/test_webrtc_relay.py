"""Transfers forced through a real TURN relay: coturn started by the fixture, its short-lived
credentials announced by Prosody's ``mod_turn_external`` (XEP-0215), ICE restricted to relay
candidates on both sides."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from ft_helpers import Receiver, make_file

from slixmpp_jet.testing.clients import connect, connect_with_omemo, disconnect, make_client
from slixmpp_jet.testing.prosody import ProsodyServer
from slixmpp_jet.testing.turn import TurnServer

pytest.importorskip("aiortc", reason="the webrtc extra (aiortc) is not installed")
from rtc_spies import RemoteCandidates

pytestmark = pytest.mark.xmpp
WEBRTC = "urn:xmpp:jingle:transports:webrtc-datachannel:1"
PLUGIN = "jingle_webrtc_datachannel"
MIB = 1024 * 1024

RELAY_ONLY = {"discover_ice_servers": True, "relay_only": True}
"""ICE servers from Prosody (XEP-0215, short-lived TURN credentials), relay candidates only."""


@pytest.fixture(scope="module")
def turn_prosody():
    """A Prosody announcing a real coturn (``mod_turn_external``)."""
    with TurnServer() as turn, ProsodyServer(turn=turn.announcement) as server:
        yield server


@pytest_asyncio.fixture
async def relayed(turn_prosody):
    """``await relayed(omemo)``: alice and bob on the TURN-announcing server, data channel
    relayed only, OMEMO ready if asked."""
    from slixmpp_jet.jet import omemo_plugin

    made = []

    async def create(omemo: bool):
        accounts = [turn_prosody.register(), turn_prosody.register()]
        turn_prosody.befriend(*accounts)
        for account, resource in zip(accounts, "ab", strict=True):
            client = make_client(turn_prosody, account, resource)
            if omemo:
                client.register_plugin("xep_0384", module=omemo_plugin)
            client.register_plugin(PLUGIN, dict(RELAY_ONLY))
            client.register_plugin("xep_0234")
            made.append(client)
            await (connect_with_omemo if omemo else connect)(client, turn_prosody)
        return made[-2:]

    yield create
    for client in made:
        await disconnect(client)


@pytest.mark.asyncio
@pytest.mark.parametrize("encrypt", [None, "omemo"], ids=["plain", "jet-omemo"])
async def test_transfer_through_a_turn_relay(relayed, dirs, encrypt, monkeypatch) -> None:
    candidates = RemoteCandidates(monkeypatch)
    alice, bob = await relayed(omemo=encrypt is not None)
    outbox, inbox = dirs
    source = make_file(outbox, "relayed.bin", 2 * MIB)
    receiver = Receiver(bob, inbox)
    sending = alice.plugin["xep_0234"].send_file
    sent = await sending(bob.boundjid, source, encrypt=encrypt, transport="webrtc")
    sent, received = await asyncio.gather(sent, await receiver.next_transfer(60))
    assert sent.transport == received.transport == WEBRTC
    assert (inbox / "relayed.bin").read_bytes() == source.read_bytes()
    assert candidates.lines, "each side learns the other's relay candidates"
    assert all(" typ relay " in line for line in candidates.lines), candidates.lines
