"""Entity capabilities (XEP-0115): a peer that trusts our caps hash learns our real features.

Dino and Conversations decide from the caps in our presence whether to offer Jingle file
transfer, and JET, at all. A hash computed before our plugins added their features would
stay valid (the disco#info behind it is served under the same hash) but list none of them,
so the peer would never offer. Here a slixmpp client with ``xep_0115`` fetches and verifies
our caps through Prosody, and they must end up equal to a live disco#info query.
"""

from __future__ import annotations

import asyncio

import pytest

from slixmpp_jet.file_transfer.stanza import NS_FT
from slixmpp_jet.jet import omemo_plugin
from slixmpp_jet.jet.stanza import FEATURE_JET_OMEMO, NS_JET
from slixmpp_jet.jingle.stanza import NS as NS_JINGLE
from slixmpp_jet.testing.clients import connect_with_omemo, disconnect, make_client
from slixmpp_jet.transports.ibb.stanza import NS_JINGLE_IBB
from slixmpp_jet.transports.s5b.wire import NS as NS_S5B

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]

FILE_TRANSFER = {NS_JINGLE, NS_FT, NS_S5B, NS_JINGLE_IBB}


async def caps_features(observer, peer, wanted: set[str], timeout: float = 30) -> set[str]:
    """The features ``observer`` holds for ``peer`` under a caps hash it verified (slixmpp
    keeps none for a hash that does not match the disco#info behind it), once they include
    ``wanted``. The timeout only stops a hung test; nothing is timed."""
    features: set[str] = set()
    try:
        async with asyncio.timeout(timeout):
            while not wanted <= features:
                await asyncio.sleep(0.05)
                info = await observer.plugin["xep_0115"].get_caps(peer.boundjid)
                features = set() if info is None else set(info["features"])
    except TimeoutError:
        raise AssertionError(f"caps never listed {wanted - features}: {features}") from None
    return features


async def live_features(observer, peer) -> set[str]:
    info = await observer.plugin["xep_0030"].get_info(jid=peer.boundjid, timeout=15)
    return set(info["disco_info"]["features"])


@pytest.mark.parametrize("caps_first", [True, False], ids=["caps-loaded-first", "caps-loaded-last"])
async def test_a_peer_learns_our_file_transfer_from_our_caps(client_factory, accounts, caps_first):
    alice_account, bob_account = accounts(2)
    observer = await client_factory(bob_account, "observer", ["xep_0115"])
    plugins = ["xep_0115", "xep_0234"] if caps_first else ["xep_0234", "xep_0115"]
    ours = await client_factory(alice_account, "ours", plugins)

    from_caps = await caps_features(observer, ours, FILE_TRANSFER)

    assert from_caps == await live_features(observer, ours)
    assert NS_JET not in from_caps  # no envelope loaded: JET is not offered


async def test_a_peer_learns_our_jet_omemo_from_our_caps(prosody, client_factory, accounts):
    alice_account, bob_account = accounts(2)
    observer = await client_factory(bob_account, "observer", ["xep_0115"])
    ours = make_client(prosody, alice_account, "ours", ["xep_0115"])
    ours.register_plugin("xep_0384", module=omemo_plugin)
    ours.register_plugin("xep_0234")
    try:
        await connect_with_omemo(ours, prosody)
        wanted = FILE_TRANSFER | {NS_JET, FEATURE_JET_OMEMO}

        from_caps = await caps_features(observer, ours, wanted)

        assert from_caps == await live_features(observer, ours)
    finally:
        await disconnect(ours)
