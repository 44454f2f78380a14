"""SyncCapsFilter in place of xep_0115's coroutine filter, on real slixmpp plugins (no server).

That a peer still learns our features from the caps in our presence, through Prosody, is
``tests/integration/test_entity_caps.py``.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
import slixmpp
from slixmpp import Iq, Presence

import slixmpp_jet  # noqa: F401  (registers the plugins)
from slixmpp_jet.caps_filter import SyncCapsFilter

pytestmark = pytest.mark.asyncio


def client_with_caps() -> slixmpp.ClientXMPP:
    client = slixmpp.ClientXMPP("me@example.org/desk", "unused")
    client.register_plugin("xep_0115")
    client.register_plugin("xep_0166")
    return client


def caps_filter_of(client: slixmpp.ClientXMPP) -> object:
    return client.plugin["xep_0115"]._filter_add_caps


async def test_installed_the_filter_is_plain_and_presence_gets_our_verstring() -> None:
    client = client_with_caps()
    stand_in = SyncCapsFilter(client)
    stand_in.install()
    assert not asyncio.iscoroutinefunction(caps_filter_of(client))
    await client.plugin["xep_0115"].assign_verstring(client.boundjid, "abc=")

    presence = Presence(client, sfrom=client.boundjid)
    assert stand_in.filter(presence) is presence
    assert presence["caps"]["ver"] == "abc="
    assert presence["caps"]["hash"] == client.plugin["xep_0115"].hash
    assert presence["caps"]["node"] == client.plugin["xep_0115"].caps_node


async def test_other_stanzas_and_unavailable_presence_pass_untouched() -> None:
    client = client_with_caps()
    stand_in = SyncCapsFilter(client)
    stand_in.install()
    await client.plugin["xep_0115"].assign_verstring(client.boundjid, "abc=")
    iq = Iq(client, stype="get")
    gone = Presence(client, sfrom=client.boundjid, stype="unavailable")
    assert stand_in.filter(iq) is iq
    assert stand_in.filter(gone) is gone
    assert not gone["caps"]["ver"]


async def test_a_coroutine_storage_handler_means_no_caps_rather_than_a_wait(caplog) -> None:
    client = client_with_caps()
    stand_in = SyncCapsFilter(client)
    stand_in.install()

    async def later(jid, node, ifrom, args):  # a user's own storage, answering later
        await asyncio.sleep(0)
        return "late="

    client.plugin["xep_0115"].api.register(later, "get_verstring")
    presence = Presence(client, sfrom=client.boundjid)
    with caplog.at_level(logging.WARNING, logger="slixmpp_jet.caps_filter"):
        assert stand_in.filter(presence) is presence
    assert not presence["caps"]["ver"]
    assert "without caps" in caplog.text


async def test_removal_gives_the_original_back_and_xep_0115_still_unloads() -> None:
    client = client_with_caps()
    original = caps_filter_of(client)
    stand_in = SyncCapsFilter(client)
    stand_in.install()
    stand_in.install()  # again: nothing changes
    stand_in.remove()
    assert caps_filter_of(client) == original
    assert asyncio.iscoroutinefunction(caps_filter_of(client))

    stand_in.install()
    client.plugin.disable("xep_0115")  # it removes whatever filter it holds: ours
    assert not stand_in.installed
    stand_in.remove()  # xep_0115 is gone: nothing to give back


async def test_nothing_is_replaced_when_xep_0115_has_no_filter_in_the_list() -> None:
    client = client_with_caps()
    original = caps_filter_of(client)
    client.del_filter("out", original)  # taken out by someone else
    stand_in = SyncCapsFilter(client)
    stand_in.install()
    assert not stand_in.installed
    assert caps_filter_of(client) == original


async def test_jingle_puts_it_in_place_when_the_session_is_bound() -> None:
    client = client_with_caps()
    assert asyncio.iscoroutinefunction(caps_filter_of(client))
    client.plugin["xep_0166"].session_bind(client.boundjid)
    assert not asyncio.iscoroutinefunction(caps_filter_of(client))
    client.plugin.disable("xep_0166")
    assert asyncio.iscoroutinefunction(caps_filter_of(client))
