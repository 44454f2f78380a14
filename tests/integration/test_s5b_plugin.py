"""The xep_0260 plugin against the real Prosody: disco feature, IP disclosure, proxies."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

import slixmpp_jet.transports.s5b  # noqa: F401  (registers xep_0260)
from slixmpp_jet.testing.prosody import PROXY_JID, free_port
from slixmpp_jet.transports.base import TransportContext
from slixmpp_jet.transports.s5b.candidates import CandidateType
from slixmpp_jet.transports.s5b.wire import NS

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]

PEER = "nobody@localhost/elsewhere"


async def _never_sent(transport: ET.Element) -> None:
    raise AssertionError("no transport-info is sent while gathering candidates")


def _context(client) -> TransportContext:
    return TransportContext(
        sid="jingle-sid",
        content_name="file",
        local_jid=client.boundjid.full,
        peer_jid=PEER,
        initiator=True,
        sending=True,
        send_transport_info=_never_sent,
    )


async def _candidates(client):
    session = await client.plugin["xep_0260"].create_session(_context(client))
    session.close()
    return session.candidates


async def test_feature_is_advertised_and_withdrawn(accounts, client_factory) -> None:
    alice, bob = accounts(2)
    asker = await client_factory(alice, "asker", ["xep_0030"])
    client = await client_factory(bob, "jet", ["xep_0260"])
    info = await asker.plugin["xep_0030"].get_info(jid=client.boundjid.full)
    assert NS in info["disco_info"]["features"]
    client.plugin.disable("xep_0260")
    info = await asker.plugin["xep_0030"].get_info(jid=client.boundjid.full)
    assert NS not in info["disco_info"]["features"]


async def test_default_offer_has_direct_candidates_then_the_servers_proxy(
    accounts, client_factory
) -> None:
    (alice,) = accounts(1)
    client = await client_factory(alice, "jet", ["xep_0260"])
    candidates = await _candidates(client)
    direct = [c for c in candidates if c.type is CandidateType.DIRECT]
    proxies = [c for c in candidates if c.type is CandidateType.PROXY]
    assert direct and all(c.jid == client.boundjid.full for c in direct)
    assert direct[-1].host == "127.0.0.1"  # loopback last: only useful on this host
    assert [(c.jid, c.host) for c in proxies] == [(PROXY_JID, "127.0.0.1")]
    assert [c.priority for c in candidates] == sorted(
        (c.priority for c in candidates), reverse=True
    )


async def test_direct_false_discloses_no_address(accounts, client_factory) -> None:
    (alice,) = accounts(1)
    client = await client_factory(alice, "jet", [])
    client.register_plugin("xep_0260", {"direct": False})
    candidates = await _candidates(client)
    assert [c.type for c in candidates] == [CandidateType.PROXY]


async def test_only_the_configured_addresses_and_ports_are_offered(
    accounts, client_factory
) -> None:
    (alice,) = accounts(1)
    port = free_port()
    config = {"direct_addresses": ["127.0.0.1"], "port_range": (port, port), "use_proxy": False}
    client = await client_factory(alice, "jet", [])
    client.register_plugin("xep_0260", config)
    candidates = await _candidates(client)
    assert [(c.type, c.host, c.port) for c in candidates] == [
        (CandidateType.DIRECT, "127.0.0.1", port)
    ]


async def test_configured_proxy_jids_are_looked_up_and_bad_ones_left_out(
    accounts, client_factory, prosody
) -> None:
    (alice,) = accounts(1)
    config = {"direct": False, "proxies": ["nothing-here.localhost", PROXY_JID]}
    client = await client_factory(alice, "jet", [])
    client.register_plugin("xep_0260", config)
    candidates = await _candidates(client)
    assert [(c.jid, c.host, c.port) for c in candidates] == [
        (PROXY_JID, "127.0.0.1", prosody.proxy_port)
    ]


async def test_proxy_discovery_runs_once(accounts, client_factory) -> None:
    (alice,) = accounts(1)
    client = await client_factory(alice, "jet", [])
    client.register_plugin("xep_0260", {"direct": False})
    item_queries = []

    def count(stanza):
        if stanza.xml.find("{http://jabber.org/protocol/disco#items}query") is not None:
            item_queries.append(stanza["id"])
        return stanza

    client.add_filter("out", count)
    first = await _candidates(client)
    second = await _candidates(client)
    assert len(item_queries) == 1
    assert [c.endpoint for c in first] == [c.endpoint for c in second]
    assert first[0].cid != second[0].cid  # fresh candidates, cached proxy list
