"""Contract test of the IBB data serialiser against slixmpp's own ``tostring``."""

from __future__ import annotations

import base64
import os

import pytest
import slixmpp
from slixmpp import Iq
from slixmpp.xmlstream.tostring import tostring

from slixmpp_jet.transports.ibb.link import IbbLink
from slixmpp_jet.transports.ibb.serialize import DataSerializer
from slixmpp_jet.transports.ibb.stanza import register_stanzas


def client(jid: str) -> slixmpp.ClientXMPP:
    register_stanzas()
    return slixmpp.ClientXMPP(jid, "secret")


def slixmpp_text(xmpp: slixmpp.ClientXMPP, iq: Iq) -> str:
    return tostring(iq.xml, xmlns=xmpp.default_ns, stream=xmpp, top_level=True)


@pytest.mark.parametrize(
    "peer",
    ["bob@example.org/phone", "bob@example.org/a&b<c>'\"d", "bob@example.org/>A</"],
    ids=["plain", "escaped-resource", "stand-in-in-resource"],
)
@pytest.mark.parametrize("size", [1, 4096, 32767])
def test_same_text_as_slixmpp(peer: str, size: int) -> None:
    xmpp = client("alice@example.org/desk")
    link = IbbLink(xmpp, "alice@example.org/desk", peer, "s-1", lambda: None)
    iq = link.data_iq(65535, os.urandom(size)).iq
    expected = slixmpp_text(xmpp, iq)
    assert DataSerializer(xmpp).filter(iq) == expected
    assert slixmpp_text(xmpp, iq) == expected  # the stanza itself is left as it was


def test_text_that_needs_escaping_is_left_to_slixmpp() -> None:
    xmpp = client("alice@example.org/desk")
    link = IbbLink(xmpp, "alice@example.org/desk", "bob@example.org/x", "s-1", lambda: None)
    iq = link.data_iq(0, b"x").iq
    iq["ibb_data"].xml.text = "a<b"
    assert DataSerializer(xmpp).filter(iq) is iq


def test_other_stanzas_pass_unchanged() -> None:
    xmpp = client("alice@example.org/desk")
    link = IbbLink(xmpp, "alice@example.org/desk", "bob@example.org/x", "s-1", lambda: None)
    for stanza in (link.open_iq(4096), link.close_iq(), xmpp.make_message("bob@example.org")):
        assert DataSerializer(xmpp).filter(stanza) is stanza
    empty = link.data_iq(0, b"").iq
    assert DataSerializer(xmpp).filter(empty) is empty


def test_output_parses_back_to_the_block() -> None:
    xmpp = client("alice@example.org/desk")
    link = IbbLink(xmpp, "alice@example.org/desk", "bob@example.org/x", "s-1", lambda: None)
    block = os.urandom(5000)
    text = DataSerializer(xmpp).filter(link.data_iq(7, block).iq)
    assert isinstance(text, str)
    payload = text.split(">", 2)[2].split("<", 1)[0]
    assert base64.b64decode(payload, validate=True) == block


def test_install_and_uninstall_leave_the_filter_list_as_found() -> None:
    xmpp = client("alice@example.org/desk")
    serializer = DataSerializer(xmpp)
    serializer.install()
    serializer.uninstall()
    with pytest.raises(ValueError):
        serializer.uninstall()
