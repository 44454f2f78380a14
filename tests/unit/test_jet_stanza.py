"""The JET ``<security/>`` element: the XEP examples, lenient variants, malformed input."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slixmpp_jet.errors import ProtocolError, SecurityError
from slixmpp_jet.jet.ciphers import AES_128_GCM, AES_256_GCM
from slixmpp_jet.jet.stanza import (
    FEATURE_JET_OMEMO,
    NS_JET,
    SecurityInfo,
    build_security,
    parse_security,
)

NS_JINGLE = "urn:xmpp:jingle:1"
NS_STUB = "urn:xmpp:encryption:stub:0"
NS_AXOLOTL = "eu.siacs.conversations.axolotl"

# XEP-0391 v0.1.2, Example 1: "Romeo initiates an encrypted file offer".
XEP_0391_OFFER = """
<iq from='romeo@montague.example/dr4hcr0st3lup4c'
    id='nzu25s8'
    to='juliet@capulet.example/yn0cl4bnw0yr3vym'
    type='set'>
  <jingle xmlns='urn:xmpp:jingle:1'
          action='session-initiate'
          initiator='romeo@montague.example/dr4hcr0st3lup4c'
          sid='851ba2'>
    <content creator='initiator' name='a-file-offer' senders='initiator'>
      <description xmlns='urn:xmpp:jingle:apps:file-transfer:5'>
        <file>
          <date>1969-07-21T02:56:15Z</date>
          <desc>This is a test. If this were a real file...</desc>
          <media-type>text/plain</media-type>
          <name>test.txt</name>
          <range/>
          <size>6144</size>
          <hash xmlns='urn:xmpp:hashes:2'
                algo='sha-1'>w0mcJylzCn+AfvuGdqkty2+KP48=</hash>
        </file>
      </description>
      <transport xmlns='urn:xmpp:jingle:transports:s5b:1'
                 mode='tcp'
                 sid='vj3hs98y'>
        <candidate cid='hft54dqy'
                   host='192.168.4.1'
                   jid='romeo@montague.example/dr4hcr0st3lup4c'
                   port='5086'
                   priority='8257636'
                   type='direct'/>
      </transport>
      <security xmlns='urn:xmpp:jingle:jet:0'
                name='a-file-offer'
                cipher='urn:xmpp:ciphers:aes-256-gcm-nopadding'
                type='urn:xmpp:encryption:stub:0'>
        <encrypted xmlns='urn:xmpp:encryption:stub:0'>
          <payload>BASE64-ENCODED-ENCRYPTED-SECRET</payload>
        </encrypted>
      </security>
    </content>
  </jingle>
</iq>
"""

# XEP-0391 v0.1.2, Example 2 (the <content/> of "Juliet initiates an encrypted file request").
XEP_0391_REQUEST_CONTENT = """
    <content xmlns='urn:xmpp:jingle:1'
             creator='initiator' name='a-file-request' senders='responder'>
      <description xmlns='urn:xmpp:jingle:apps:file-transfer:5'>
        <file>
          <hash xmlns='urn:xmpp:hashes:2'
                algo='sha-1'>w0mcJylzCn+AfvuGdqkty2+KP48=</hash>
        </file>
      </description>
      <transport xmlns='urn:xmpp:jingle:transports:s5b:1'
                 mode='tcp'
                 sid='xig361fj'>
        <candidate cid='ht567dq'
                   host='192.169.1.10'
                   jid='juliet@capulet.example/yn0cl4bnw0yr3vym'
                   port='6539'
                   priority='8257636'
                   type='direct'/>
      </transport>
      <security xmlns='urn:xmpp:jingle:jet:0'
                name='a-file-request'
                cipher='urn:xmpp:ciphers:aes-256-gcm-nopadding'
                type='urn:xmpp:encryption:stub:0'>
        <encrypted xmlns='urn:xmpp:encryption:stub:0'>
          <payload>BASE64-ENCODED-ENCRYPTED-SECRET</payload>
        </encrypted>
      </security>
    </content>
"""

# XEP-0396 v0.2.0, Example 1: "Romeo initiates an OMEMO encrypted file offer".
XEP_0396_OFFER = """
<iq from='romeo@montague.example/dr4hcr0st3lup4c'
    id='nzu25s8'
    to='juliet@capulet.example/yn0cl4bnw0yr3vym'
    type='set'>
  <jingle xmlns='urn:xmpp:jingle:1'
          action='session-initiate'
          initiator='romeo@montague.example/dr4hcr0st3lup4c'
          sid='851ba2'>
    <content creator='initiator' name='a-file-offer' senders='initiator'>
      <description xmlns='urn:xmpp:jingle:apps:file-transfer:5'>
        <file>
          <date>1969-07-21T02:56:15Z</date>
          <desc>This is a test. If this were a real file...</desc>
          <media-type>text/plain</media-type>
          <name>test.txt</name>
          <range/>
          <size>6144</size>
          <hash xmlns='urn:xmpp:hashes:2'
                algo='sha-1'>w0mcJylzCn+AfvuGdqkty2+KP48=</hash>
        </file>
      </description>
      <transport xmlns='urn:xmpp:jingle:transports:s5b:1'
                 mode='tcp'
                 sid='vj3hs98y'>
        <candidate cid='hft54dqy'
                   host='192.168.4.1'
                   jid='romeo@montague.example/dr4hcr0st3lup4c'
                   port='5086'
                   priority='8257636'
                   type='direct'/>
      </transport>
      <security xmlns='urn:xmpp:jingle:jet:0'
                name='a-file-offer'
                cipher='urn:xmpp:ciphers:aes-128-gcm-nopadding'
                type='eu.siacs.conversations.axolotl'>
        <encrypted xmlns='eu.siacs.conversations.axolotl'>
          <header sid='27183'>
            <key rid='31415'>BASE64ENCODED...</key>
            <key prekey="true" rid='12321'>BASE64ENCODED...</key>
            <!-- ... -->
            <iv>BASE64ENCODED...</iv>
          </header>
        </encrypted>
      </security>
    </content>
  </jingle>
</iq>
"""


def content_of(iq_xml: str) -> ET.Element:
    content = ET.fromstring(iq_xml).find(f"{{{NS_JINGLE}}}jingle/{{{NS_JINGLE}}}content")
    assert content is not None
    return content


def content_with(security_xml: str, name: str = "a-file-offer") -> ET.Element:
    """A Jingle <content/> whose only child is ``security_xml``."""
    return ET.fromstring(
        f"<content xmlns='{NS_JINGLE}' creator='initiator' name='{name}' senders='initiator'>"
        f"{security_xml}</content>"
    )


def security_xml(
    cipher: str | None = "urn:xmpp:ciphers:aes-128-gcm-nopadding",
    envelope_type: str | None = NS_STUB,
    name: str | None = "a-file-offer",
    children: str = f"<encrypted xmlns='{NS_STUB}'><payload>c2VjcmV0</payload></encrypted>",
) -> str:
    attributes = {"name": name, "cipher": cipher, "type": envelope_type}
    rendered = " ".join(
        f"{key}='{value}'" for key, value in attributes.items() if value is not None
    )
    return f"<security xmlns='{NS_JET}' {rendered}>{children}</security>"


def test_namespace_constants() -> None:
    assert NS_JET == "urn:xmpp:jingle:jet:0"
    assert FEATURE_JET_OMEMO == "urn:xmpp:jingle:jet-omemo:0"


# The XEP examples --------------------------------------------------------------------------------


def test_xep_0391_offer_example_parses() -> None:
    info = parse_security(content_of(XEP_0391_OFFER))
    assert info is not None
    assert info.name == "a-file-offer"
    assert info.cipher is AES_256_GCM
    assert info.type == NS_STUB
    assert info.envelope.tag == f"{{{NS_STUB}}}encrypted"
    assert info.envelope.findtext(f"{{{NS_STUB}}}payload") == "BASE64-ENCODED-ENCRYPTED-SECRET"


def test_xep_0391_request_example_parses() -> None:
    info = parse_security(ET.fromstring(XEP_0391_REQUEST_CONTENT))
    assert info is not None
    assert (info.name, info.cipher, info.type) == ("a-file-request", AES_256_GCM, NS_STUB)


def test_xep_0396_omemo_offer_example_parses() -> None:
    info = parse_security(content_of(XEP_0396_OFFER))
    assert info is not None
    assert (info.name, info.cipher, info.type) == ("a-file-offer", AES_128_GCM, NS_AXOLOTL)
    assert info.envelope.tag == f"{{{NS_AXOLOTL}}}encrypted"
    keys = info.envelope.findall(f"{{{NS_AXOLOTL}}}header/{{{NS_AXOLOTL}}}key")
    assert [key.get("rid") for key in keys] == ["31415", "12321"]
    assert info.envelope.find(f"{{{NS_AXOLOTL}}}payload") is None


def test_content_without_security_is_plaintext() -> None:
    offer = content_of(XEP_0391_OFFER)
    offer.remove(offer.find(f"{{{NS_JET}}}security"))
    assert parse_security(offer) is None


def test_security_in_another_namespace_is_not_jet() -> None:
    foreign = "<security xmlns='urn:xmpp:jingle:jet:1' cipher='x' type='y'><e/></security>"
    assert parse_security(content_with(foreign)) is None


# Building ------------------------------------------------------------------------------------


def test_build_security_carries_name_cipher_type_and_envelope() -> None:
    envelope = ET.Element(f"{{{NS_AXOLOTL}}}encrypted")
    security = build_security("a-file-offer", AES_128_GCM.uri, NS_AXOLOTL, envelope)
    assert security.tag == f"{{{NS_JET}}}security"
    assert security.attrib == {
        "name": "a-file-offer",
        "cipher": "urn:xmpp:ciphers:aes-128-gcm-nopadding",
        "type": NS_AXOLOTL,
    }
    assert list(security) == [envelope]


@pytest.mark.parametrize("cipher", [AES_128_GCM, AES_256_GCM], ids=lambda c: c.name)
def test_built_security_round_trips_through_xml(cipher) -> None:
    original = content_of(XEP_0396_OFFER)
    envelope = parse_security(original).envelope
    content = ET.Element(f"{{{NS_JINGLE}}}content", {"name": "f1", "creator": "initiator"})
    content.append(build_security("f1", cipher.uri, NS_AXOLOTL, envelope))
    reparsed = parse_security(ET.fromstring(ET.tostring(content)))
    assert reparsed == SecurityInfo(
        name="f1", cipher=cipher, type=NS_AXOLOTL, envelope=reparsed.envelope
    )
    assert ET.tostring(reparsed.envelope) == ET.tostring(envelope)


def test_build_security_refuses_an_unknown_cipher() -> None:
    with pytest.raises(SecurityError, match="aes-256-cbc"):
        build_security("f", "urn:xmpp:ciphers:aes-256-cbc-pkcs7:0", NS_STUB, ET.Element("e"))


# Lenient receiving --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "cipher"),
    [
        ("urn:xmpp:ciphers:aes-128-gcm-nopadding", AES_128_GCM),
        ("urn:xmpp:ciphers:aes-128-gcm-nopadding:0", AES_128_GCM),
        ("aes-128-gcm-nopadding:0", AES_128_GCM),
        ("urn:xmpp:ciphers:aes-256-gcm-nopadding", AES_256_GCM),
        ("urn:xmpp:ciphers:aes-256-gcm-nopadding:0", AES_256_GCM),
        ("aes-256-gcm-nopadding:0", AES_256_GCM),
    ],
)
def test_every_cipher_spelling_parses(uri: str, cipher) -> None:
    info = parse_security(content_with(security_xml(cipher=uri)))
    assert info is not None
    assert info.cipher is cipher


def test_missing_name_is_accepted_as_dino_sends_it() -> None:
    info = parse_security(content_with(security_xml(name=None)))
    assert info is not None
    assert info.name is None
    assert info.cipher is AES_128_GCM


def test_whitespace_and_comments_around_the_envelope_are_ignored() -> None:
    children = f"\n  <!-- sealed -->\n  <encrypted xmlns='{NS_STUB}'/>\n"
    info = parse_security(content_with(security_xml(children=children)))
    assert info is not None
    assert info.envelope.tag == f"{{{NS_STUB}}}encrypted"


# Malformed ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("security", "complaint"),
    [
        (security_xml(name="another-content"), "'another-content'"),
        (security_xml(name=""), "names content ''"),
        (security_xml(cipher=None), "'cipher' and a 'type'"),
        (security_xml(cipher=""), "'cipher' and a 'type'"),
        (security_xml(envelope_type=None), "'cipher' and a 'type'"),
        (security_xml(cipher=None, envelope_type=None), "'cipher' and a 'type'"),
        (security_xml(children=""), "exactly one envelope element, not 0"),
        (security_xml(children="just text"), "exactly one envelope element, not 0"),
        (security_xml(children="<a/><b/>"), "exactly one envelope element, not 2"),
        (security_xml() + security_xml(), "more than one"),
    ],
)
def test_malformed_security_is_bad_request(security: str, complaint: str) -> None:
    with pytest.raises(ProtocolError, match=complaint) as caught:
        parse_security(content_with(security))
    assert caught.value.condition == "bad-request"


@pytest.mark.parametrize(
    "uri", ["urn:xmpp:ciphers:aes-256-cbc-pkcs7:0", "urn:xmpp:ciphers:chacha20-poly1305:0"]
)
def test_unknown_cipher_is_a_security_error(uri: str) -> None:
    with pytest.raises(SecurityError, match=uri):
        parse_security(content_with(security_xml(cipher=uri)))


_attribute = (
    st.none()
    | st.sampled_from(
        ["a-file-offer", "urn:xmpp:ciphers:aes-128-gcm-nopadding", "aes-256-gcm-nopadding:0", ""]
    )
    | st.text(alphabet=st.characters(codec="ascii", categories=["L", "N", "P"]), max_size=20)
)


@given(
    name=_attribute,
    cipher=_attribute,
    envelope_type=_attribute,
    child_count=st.integers(0, 3),
)
def test_any_security_either_parses_consistently_or_fails_clearly(
    name, cipher, envelope_type, child_count
) -> None:
    security = ET.Element(f"{{{NS_JET}}}security")
    for key, value in (("name", name), ("cipher", cipher), ("type", envelope_type)):
        if value is not None:
            security.set(key, value)
    for index in range(child_count):
        ET.SubElement(security, f"{{{NS_STUB}}}e{index}")
    content = ET.Element(f"{{{NS_JINGLE}}}content", {"name": "a-file-offer"})
    content.append(security)
    try:
        info = parse_security(content)
    except (ProtocolError, SecurityError) as error:
        assert str(error)
        return
    assert info is not None
    assert info.name in (None, "a-file-offer")
    assert cipher in info.cipher.spellings
    assert info.type == envelope_type
    assert child_count == 1
