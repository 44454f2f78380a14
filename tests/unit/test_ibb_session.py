"""The xep_0261 plugin and its transport sessions before any stanza flows (offline client)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
from slixmpp import ClientXMPP

import slixmpp_jet.transports.ibb  # noqa: F401  (registers xep_0261)
from slixmpp_jet.errors import ProtocolError, TransportError
from slixmpp_jet.transports.base import TransportContext
from slixmpp_jet.transports.ibb import NS_JINGLE_IBB, XEP_0261, IbbSettings
from slixmpp_jet.transports.ibb.stanza import IbbParameters, build_transport

OFFERED = XEP_0261.default_config["block_size"]
"""The block-size we offer."""

pytestmark = pytest.mark.asyncio

ALICE = "alice@localhost/ibb"
BOB = "bob@localhost/ibb"


async def no_transport_info(_transport) -> None:
    raise AssertionError("IBB never needs a transport-info")


def plugin(jid: str = ALICE, **config) -> XEP_0261:
    client = ClientXMPP(jid, "secret")
    client.register_plugin("xep_0261", config)
    return client.plugin["xep_0261"]


def context(*, initiator: bool = True, sending: bool = True) -> TransportContext:
    return TransportContext("jingle-sid", "file", ALICE, BOB, initiator, sending, no_transport_info)


def offer(sid: str = "peer-sid", block_size: int = 4096, **extra: str) -> ET.Element:
    element = build_transport(IbbParameters(sid, block_size))
    element.attrib.update(extra)
    return element


async def test_plugin_is_the_last_resort_transport() -> None:
    ibb = plugin()
    assert (ibb.namespace, ibb.preference) == (NS_JINGLE_IBB, 0)


async def test_offer_has_a_fresh_sid_and_the_configured_block_size() -> None:
    ibb = plugin(block_size=8192)
    first, second = await ibb.create_session(context()), await ibb.create_session(context())
    assert first.sid != second.sid
    assert first.description().attrib == {"block-size": "8192", "sid": first.sid, "stanza": "iq"}


async def test_answer_echoes_the_sid_and_lowers_the_block_size() -> None:
    ibb = plugin(max_block_size=2048)
    answer = await ibb.create_session(context(initiator=False), remote=offer("xyz", 4096))
    assert answer.description().attrib == {"block-size": "2048", "sid": "xyz", "stanza": "iq"}


async def test_offer_never_exceeds_what_we_accept() -> None:
    ibb = plugin(block_size=8192, max_block_size=1024)
    assert (await ibb.create_session(context())).block_size == 1024


async def test_an_offer_over_message_stanzas_is_refused() -> None:
    with pytest.raises(ProtocolError, match="only stanza='iq'") as refused:
        await plugin().create_session(context(initiator=False), remote=offer(stanza="message"))
    assert refused.value.condition == "feature-not-implemented"


async def test_a_malformed_offer_is_a_bad_request() -> None:
    with pytest.raises(ProtocolError) as refused:
        await plugin().create_session(context(initiator=False), remote=offer(sid="no good"))
    assert refused.value.condition == "bad-request"


async def test_a_sid_already_live_with_that_peer_conflicts() -> None:
    ibb = plugin()
    await ibb.create_session(context(initiator=False), remote=offer("same"))
    with pytest.raises(ProtocolError, match="already in use") as refused:
        await ibb.create_session(context(initiator=False), remote=offer("same"))
    assert refused.value.condition == "conflict"


async def test_a_closed_session_frees_its_sid() -> None:
    ibb = plugin()
    (await ibb.create_session(context(initiator=False), remote=offer("again"))).close()
    assert (
        await ibb.create_session(context(initiator=False), remote=offer("again"))
    ).sid == "again"


async def test_offerer_takes_the_smaller_answer() -> None:
    session = await plugin().create_session(context())
    session.accept_remote(offer(session.sid, 16384))
    assert session.block_size == OFFERED
    session.accept_remote(offer(session.sid, 512))
    assert session.description().get("block-size") == "512"


async def test_an_answer_for_another_sid_is_a_bad_request() -> None:
    session = await plugin().create_session(context())
    with pytest.raises(ProtocolError) as refused:
        session.accept_remote(offer("not-ours"))
    assert refused.value.condition == "bad-request"


async def test_transport_info_is_not_supported() -> None:
    session = await plugin().create_session(context())
    with pytest.raises(ProtocolError) as refused:
        await session.handle_info(offer(session.sid))
    assert refused.value.condition == "feature-not-implemented"
    assert refused.value.jingle_condition == "unsupported-info"


async def test_establish_needs_the_peers_answer() -> None:
    session = await plugin().create_session(context())
    with pytest.raises(TransportError, match="not known"):
        await session.establish()


async def test_a_closed_session_cannot_establish() -> None:
    session = await plugin().create_session(context(initiator=False), remote=offer())
    session.close()
    with pytest.raises(TransportError, match="closed"):
        await session.establish()


@pytest.mark.parametrize(
    "change",
    [
        {"block_size": 0},
        {"max_block_size": 65536},
        {"window": 0},
        {"receive_buffer": 0},
        {"open_timeout": 0},
        {"ack_timeout": -1},
    ],
)
async def test_nonsensical_settings_are_rejected(change: dict[str, int]) -> None:
    config = dict(XEP_0261.default_config, **change)
    with pytest.raises(ValueError, match="must be"):
        IbbSettings.from_config(config)
