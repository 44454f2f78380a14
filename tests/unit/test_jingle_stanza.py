"""Jingle wire format: the XEP-0166 examples parse and re-serialise; malformed input is refused."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slixmpp import Iq

from slixmpp_jet.errors import ProtocolError, Reason
from slixmpp_jet.jingle.session import Action, Role
from slixmpp_jet.jingle.stanza import (
    NS,
    Content,
    Jingle,
    JingleReason,
    fill,
    namespace_of,
    parse_action,
    parse_contents,
    parse_reason,
    register_plugins,
)

# --- XEP-0166 v1.1.2 examples, verbatim ------------------------------------------------------

STUB_INITIATE = """
<iq from='romeo@montague.lit/orchard'
    id='zid615d9'
    to='juliet@capulet.lit/balcony'
    type='set'>
  <jingle xmlns='urn:xmpp:jingle:1'
          action='session-initiate'
          initiator='romeo@montague.lit/orchard'
          sid='a73sjjvkla37jfea'>
    <content creator='initiator' name='this-is-a-stub'>
      <description xmlns='urn:xmpp:jingle:apps:stub:0'/>
      <transport xmlns='urn:xmpp:jingle:transports:stub:0'/>
    </content>
  </jingle>
</iq>
"""

RTP_INITIATE = """
<iq from='romeo@montague.lit/orchard'
    id='ph37a419'
    to='juliet@capulet.lit/balcony'
    type='set'>
  <jingle xmlns='urn:xmpp:jingle:1'
          action='session-initiate'
          initiator='romeo@montague.lit/orchard'
          sid='a73sjjvkla37jfea'>
    <content creator='initiator' name='voice'>
      <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
        <payload-type id='96' name='speex' clockrate='16000'/>
        <payload-type id='97' name='speex' clockrate='8000'/>
        <payload-type id='18' name='G729'/>
        <payload-type id='0' name='PCMU' />
        <payload-type id='103' name='L16' clockrate='16000' channels='2'/>
        <payload-type id='98' name='x-ISAC' clockrate='8000'/>
      </description>
      <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'
                 pwd='asd88fgpdd777uzjYhagZg'
                 ufrag='8hhy'>
        <candidate component='1'
                   foundation='1'
                   generation='0'
                   id='el0747fg11'
                   ip='10.0.1.1'
                   network='1'
                   port='8998'
                   priority='2130706431'
                   protocol='udp'
                   type='host'/>
        <candidate component='1'
                   foundation='2'
                   generation='0'
                   id='y3s2b30v3r'
                   ip='192.0.2.3'
                   network='1'
                   port='45664'
                   priority='1694498815'
                   protocol='udp'
                   rel-addr='10.0.1.1'
                   rel-port='8998'
                   type='srflx'/>
      </transport>
    </content>
  </jingle>
</iq>
"""

RTP_ACCEPT = """
<iq from='juliet@capulet.lit/balcony'
    id='yd71f495'
    to='romeo@montague.lit/orchard'
    type='set'>
  <jingle xmlns='urn:xmpp:jingle:1'
          action='session-accept'
          responder='juliet@capulet.lit/balcony'
          sid='a73sjjvkla37jfea'>
    <content creator='initiator' name='voice'>
      <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
        <payload-type id='97' name='speex' clockrate='8000'/>
        <payload-type id='18' name='G729'/>
      </description>
      <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'>
        <candidate component='1'
                   foundation='1'
                   generation='0'
                   id='or2ii2syr1'
                   ip='192.0.2.1'
                   network='0'
                   port='3478'
                   priority='2130706431'
                   protocol='udp'
                   type='host'/>
      </transport>
    </content>
  </jingle>
</iq>
"""

TERMINATE_WITH_TEXT = """
<iq from='juliet@capulet.lit/balcony'
    id='vua614d9'
    to='romeo@montague.lit/orchard'
    type='set'>
  <jingle xmlns='urn:xmpp:jingle:1'
          action='session-terminate'
          sid='a73sjjvkla37jfea'>
    <reason>
      <success/>
      <text>Sorry, gotta go!</text>
    </reason>
  </jingle>
</iq>
"""

TERMINATE_ALTERNATIVE_SESSION = """
<iq from='juliet@capulet.lit/balcony'
    id='ay3r2b86'
    to='romeo@montague.lit/orchard'
    type='set'>
  <jingle xmlns='urn:xmpp:jingle:1'
          action='session-terminate'
          sid='a73sjjvkla37jfea'>
    <reason>
      <alternative-session>
        <sid>b84tkkwlmb48kgfb</sid>
      </alternative-session>
    </reason>
  </jingle>
</iq>
"""

RINGING = """
<iq from='juliet@capulet.lit/balcony'
    id='hq7rg186'
    to='romeo@montague.lit/orchard'
    type='set'>
  <jingle xmlns='urn:xmpp:jingle:1'
          action='session-info'
          sid='a73sjjvkla37jfea'>
    <ringing xmlns='urn:xmpp:jingle:apps:rtp:1:info'/>
  </jingle>
</iq>
"""

PING = """
<iq from='juliet@capulet.lit/balcony'
    id='ug37vb25'
    to='romeo@montague.lit/orchard'
    type='set'>
  <jingle xmlns='urn:xmpp:jingle:1'
          action='session-info'
          sid='a73sjjvkla37jfea'/>
</iq>
"""

SECURITY_INITIATE = """
<iq from='romeo@montague.lit/orchard'
    id='tiw51bv9'
    to='juliet@capulet.lit/balcony'
    type='set'>
  <jingle xmlns='urn:xmpp:jingle:1'
          action='session-initiate'
          initiator='romeo@montague.lit/orchard'
          sid='a73sjjvkla37jfea'>
    <content creator='initiator' name='this-is-a-stub'>
      <description xmlns='urn:xmpp:jingle:apps:stub:0'/>
      <transport xmlns='urn:xmpp:jingle:transports:stub:0'/>
      <security xmlns='urn:xmpp:jingle:security:stub:0'/>
    </content>
  </jingle>
</iq>
"""

SECURITY_INFO = """
<iq from='romeo@montague.lit/orchard'
    id='zyw6m167'
    to='juliet@capulet.lit/balcony'
    type='set'>
  <jingle xmlns='urn:xmpp:jingle:1'
          action='security-info'
          sid='a73sjjvkla37jfea'>
    <content creator='initiator' name='xmlstream'>
      <security xmlns='urn:xmpp:jingle:security:xtls:0'>
        <method name='x509'/>
      </security>
    </content>
  </jingle>
</iq>
"""

# The session-terminate examples of §6.7 differ only in the condition; the reasons of §7.4:
TERMINATE_TEMPLATE = """
<iq from='juliet@capulet.lit/balcony'
    id='bv81gs75'
    to='romeo@montague.lit/orchard'
    type='set'>
  <jingle xmlns='urn:xmpp:jingle:1'
          action='session-terminate'
          sid='a73sjjvkla37jfea'>
    <reason>
      <{condition}/>
    </reason>
  </jingle>
</iq>
"""

SPEC_CONDITIONS = [
    "alternative-session",
    "busy",
    "cancel",
    "connectivity-error",
    "decline",
    "expired",
    "failed-application",
    "failed-transport",
    "general-error",
    "gone",
    "incompatible-parameters",
    "media-error",
    "security-error",
    "success",
    "timeout",
    "unsupported-applications",
    "unsupported-transports",
]

EXAMPLES_WITH_CONTENT = [STUB_INITIATE, RTP_INITIATE, RTP_ACCEPT, SECURITY_INITIATE, SECURITY_INFO]


def jingle_of(iq_xml: str) -> ET.Element:
    element = ET.fromstring(iq_xml).find(f"{{{NS}}}jingle")
    assert element is not None
    return element


def jingle_with(children: str, action: str = "content-add") -> ET.Element:
    return ET.fromstring(f"<jingle xmlns='{NS}' action='{action}' sid='s1'>{children}</jingle>")


def assert_equivalent(left: ET.Element, right: ET.Element) -> None:
    """Same tags, attributes, text (whitespace aside) and children, in order."""
    assert left.tag == right.tag
    assert left.attrib == right.attrib, left.tag
    assert (left.text or "").strip() == (right.text or "").strip(), left.tag
    assert [child.tag for child in left] == [child.tag for child in right]
    for left_child, right_child in zip(left, right, strict=True):
        assert_equivalent(left_child, right_child)


def reparsed(element: ET.Element) -> ET.Element:
    """Serialise to bytes and parse again, so the check covers real XML output."""
    return ET.fromstring(ET.tostring(element))


# --- actions and ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iq_xml", "action", "initiator", "responder"),
    [
        (STUB_INITIATE, Action.SESSION_INITIATE, "romeo@montague.lit/orchard", ""),
        (RTP_INITIATE, Action.SESSION_INITIATE, "romeo@montague.lit/orchard", ""),
        (RTP_ACCEPT, Action.SESSION_ACCEPT, "", "juliet@capulet.lit/balcony"),
        (TERMINATE_WITH_TEXT, Action.SESSION_TERMINATE, "", ""),
        (RINGING, Action.SESSION_INFO, "", ""),
        (PING, Action.SESSION_INFO, "", ""),
        (SECURITY_INITIATE, Action.SESSION_INITIATE, "romeo@montague.lit/orchard", ""),
        (SECURITY_INFO, Action.SECURITY_INFO, "", ""),
    ],
)
def test_examples_parse_action_and_ids(
    iq_xml: str, action: Action, initiator: str, responder: str
) -> None:
    register_plugins()
    iq = Iq(xml=ET.fromstring(iq_xml))
    jingle = iq["jingle"]
    assert isinstance(jingle, Jingle)
    assert parse_action(jingle) is action
    assert jingle["sid"] == "a73sjjvkla37jfea"
    assert jingle["initiator"] == initiator
    assert jingle["responder"] == responder


@pytest.mark.parametrize("action", list(Action), ids=lambda action: action.value)
def test_every_action_name_parses(action: Action) -> None:
    jingle = Jingle(xml=jingle_with("", action=action.value))
    assert parse_action(jingle) is action


@pytest.mark.parametrize("bad", ["session-dance", "Session-Initiate", "session-initiate ", ""])
def test_an_unknown_action_is_a_bad_request(bad: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_action(Jingle(xml=jingle_with("", action=bad)))
    assert caught.value.condition == "bad-request"
    assert caught.value.jingle_condition is None


def test_a_missing_action_is_a_bad_request() -> None:
    jingle = Jingle(xml=ET.fromstring(f"<jingle xmlns='{NS}' sid='s1'/>"))
    with pytest.raises(ProtocolError) as caught:
        parse_action(jingle)
    assert caught.value.condition == "bad-request"


# --- contents ------------------------------------------------------------------------------------


def test_stub_initiate_content() -> None:
    [content] = parse_contents(jingle_of(STUB_INITIATE))
    assert content == Content(Role.INITIATOR, "this-is-a-stub", "both", "session")
    assert content.description is not None and content.transport is not None
    assert namespace_of(content.description) == "urn:xmpp:jingle:apps:stub:0"
    assert namespace_of(content.transport) == "urn:xmpp:jingle:transports:stub:0"
    assert content.security is None


def test_rtp_initiate_keeps_description_and_transport_children() -> None:
    [content] = parse_contents(jingle_of(RTP_INITIATE))
    assert (content.creator, content.name) == (Role.INITIATOR, "voice")
    assert content.description is not None and content.transport is not None
    assert content.description.get("media") == "audio"
    payloads = content.description.findall("{urn:xmpp:jingle:apps:rtp:1}payload-type")
    assert [payload.get("name") for payload in payloads] == [
        "speex", "speex", "G729", "PCMU", "L16", "x-ISAC"
    ]  # fmt: skip
    assert content.transport.get("ufrag") == "8hhy"
    candidates = content.transport.findall("{urn:xmpp:jingle:transports:ice-udp:1}candidate")
    assert [candidate.get("id") for candidate in candidates] == ["el0747fg11", "y3s2b30v3r"]


def test_session_accept_content() -> None:
    [content] = parse_contents(jingle_of(RTP_ACCEPT))
    assert (content.creator, content.name) == (Role.INITIATOR, "voice")
    assert content.description is not None
    assert len(content.description) == 2


def test_security_precondition_is_its_own_child() -> None:
    [content] = parse_contents(jingle_of(SECURITY_INITIATE))
    assert content.security is not None
    assert namespace_of(content.security) == "urn:xmpp:jingle:security:stub:0"
    assert content.description is not None and content.transport is not None


def test_security_info_content_has_only_security() -> None:
    [content] = parse_contents(jingle_of(SECURITY_INFO))
    assert content.name == "xmlstream"
    assert content.description is None and content.transport is None
    assert content.security is not None
    assert content.security.find("{urn:xmpp:jingle:security:xtls:0}method") is not None


@pytest.mark.parametrize("iq_xml", [RINGING, PING, TERMINATE_WITH_TEXT])
def test_examples_without_content(iq_xml: str) -> None:
    assert parse_contents(jingle_of(iq_xml)) == []


@pytest.mark.parametrize("iq_xml", EXAMPLES_WITH_CONTENT)
def test_content_to_xml_reserialises_the_example(iq_xml: str) -> None:
    original = jingle_of(iq_xml).find(f"{{{NS}}}content")
    assert original is not None
    [content] = parse_contents(jingle_of(iq_xml))
    assert_equivalent(reparsed(content.to_xml()), original)


def test_senders_and_disposition_are_read_and_written() -> None:
    jingle = jingle_with(
        "<content creator='responder' name='a' senders='initiator' disposition='early-session'/>"
        "<content creator='initiator' name='b' senders='none'/>"
    )
    first, second = parse_contents(jingle)
    assert (first.creator, first.senders, first.disposition) == (
        Role.RESPONDER, "initiator", "early-session"
    )  # fmt: skip
    assert (second.senders, second.disposition) == ("none", "session")
    xml = reparsed(first.to_xml())
    assert xml.get("senders") == "initiator"
    assert xml.get("disposition") == "early-session"
    defaults = reparsed(Content(Role.INITIATOR, "c").to_xml())
    assert defaults.attrib == {"creator": "initiator", "name": "c"}


def test_same_name_from_different_creators_is_allowed() -> None:
    """(creator, name) is the unique key, not name alone (XEP-0166 §7.3)."""
    contents = parse_contents(
        jingle_with(
            "<content creator='initiator' name='x'/><content creator='responder' name='x'/>"
        )
    )
    assert [content.creator for content in contents] == [Role.INITIATOR, Role.RESPONDER]


@pytest.mark.parametrize(
    "contents",
    [
        pytest.param("<content name='a'/>", id="no-creator"),
        pytest.param("<content creator='initiator'/>", id="no-name"),
        pytest.param("<content creator='initiator' name=''/>", id="empty-name"),
        pytest.param("<content creator='nobody' name='a'/>", id="unknown-creator"),
        pytest.param("<content creator='Initiator' name='a'/>", id="creator-case"),
        pytest.param(
            "<content creator='initiator' name='a'/><content creator='initiator' name='a'/>",
            id="duplicate",
        ),
        pytest.param(
            "<content creator='initiator' name='a' disposition='early-session'/>",
            id="single-not-session",
        ),
        pytest.param(
            "<content creator='initiator' name='a' disposition='early-session'/>"
            "<content creator='initiator' name='b' disposition='render'/>",
            id="none-session",
        ),
        pytest.param("<content creator='initiator' name='a' senders='everyone'/>", id="senders"),
        pytest.param("<content creator='initiator' name='a' senders=''/>", id="empty-senders"),
        pytest.param(
            "<content creator='initiator' name='a'>"
            "<transport xmlns='urn:x:1'/><transport xmlns='urn:x:2'/></content>",
            id="two-transports",
        ),
        pytest.param(
            "<content creator='initiator' name='a'>"
            "<description xmlns='urn:x:1'/><description xmlns='urn:x:1'/></content>",
            id="two-descriptions",
        ),
        pytest.param(
            "<content creator='initiator' name='a'>"
            "<security xmlns='urn:x:1'/><security xmlns='urn:x:2'/></content>",
            id="two-securities",
        ),
    ],
)
def test_malformed_contents_are_bad_requests(contents: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_contents(jingle_with(contents))
    assert caught.value.condition == "bad-request"
    assert str(caught.value)


def test_one_session_content_among_several_is_enough() -> None:
    contents = parse_contents(
        jingle_with(
            "<content creator='initiator' name='a' disposition='early-session'/>"
            "<content creator='initiator' name='b'/>"
        )
    )
    assert [content.disposition for content in contents] == ["early-session", "session"]


# --- reasons -------------------------------------------------------------------------------------


def test_reason_enum_is_exactly_the_spec_conditions() -> None:
    assert sorted(reason.value for reason in Reason) == SPEC_CONDITIONS


@pytest.mark.parametrize("condition", SPEC_CONDITIONS)
def test_every_condition_parses_and_reserialises(condition: str) -> None:
    jingle = jingle_of(TERMINATE_TEMPLATE.format(condition=condition))
    reason = parse_reason(jingle)
    assert reason == JingleReason(Reason(condition))
    original = jingle.find(f"{{{NS}}}reason")
    assert original is not None
    assert_equivalent(reparsed(reason.to_xml()), original)


def test_reason_with_text() -> None:
    jingle = jingle_of(TERMINATE_WITH_TEXT)
    reason = parse_reason(jingle)
    assert reason == JingleReason(Reason.SUCCESS, "Sorry, gotta go!")
    original = jingle.find(f"{{{NS}}}reason")
    assert original is not None
    assert_equivalent(reparsed(reason.to_xml()), original)


def test_alternative_session_keeps_its_sid() -> None:
    jingle = jingle_of(TERMINATE_ALTERNATIVE_SESSION)
    reason = parse_reason(jingle)
    assert reason is not None
    assert reason.condition is Reason.ALTERNATIVE_SESSION
    assert reason.alternative_sid == "b84tkkwlmb48kgfb"
    original = jingle.find(f"{{{NS}}}reason")
    assert original is not None
    assert_equivalent(reparsed(reason.to_xml()), original)


def test_reason_with_an_application_element() -> None:
    jingle = jingle_with(
        "<reason><security-error/><text>bad tag</text>"
        "<tag-mismatch xmlns='urn:example:app:0' chunk='3'/></reason>",
        action="session-terminate",
    )
    reason = parse_reason(jingle)
    assert reason is not None
    assert (reason.condition, reason.text) == (Reason.SECURITY_ERROR, "bad tag")
    assert reason.extra is not None
    assert reason.extra.tag == "{urn:example:app:0}tag-mismatch"
    original = jingle.find(f"{{{NS}}}reason")
    assert original is not None
    assert_equivalent(reparsed(reason.to_xml()), original)


@pytest.mark.parametrize("reason", list(Reason), ids=lambda reason: reason.value)
def test_every_reason_value_round_trips(reason: Reason) -> None:
    value = JingleReason(reason, text="why")
    jingle = jingle_with("", action="session-terminate")
    jingle.append(value.to_xml())
    assert parse_reason(reparsed(jingle)) == value


def test_unknown_or_missing_condition_reads_as_general_error() -> None:
    unknown = jingle_with("<reason><on-fire/><text>hot</text></reason>")
    assert parse_reason(unknown) == JingleReason(Reason.GENERAL_ERROR, "hot")
    foreign = jingle_with("<reason><busy xmlns='urn:example:other'/></reason>")
    assert parse_reason(foreign) == JingleReason(Reason.GENERAL_ERROR)
    assert parse_reason(jingle_with("<reason/>")) == JingleReason(Reason.GENERAL_ERROR)


def test_no_reason_is_none() -> None:
    assert parse_reason(jingle_of(STUB_INITIATE)) is None


_NAMES = st.text(min_size=0, max_size=30)
_XML_NAMES = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9._-]{0,30}\Z")


@given(
    namespace=st.one_of(st.just(NS), _NAMES),
    name=_NAMES,
    text=st.one_of(st.none(), _NAMES),
)
def test_parse_reason_never_raises_on_any_condition_element(
    namespace: str, name: str, text: str | None
) -> None:
    reason_xml = ET.Element(f"{{{NS}}}reason")
    ET.SubElement(reason_xml, f"{{{namespace}}}{name}")
    if text is not None:
        ET.SubElement(reason_xml, f"{{{NS}}}text").text = text
    jingle = ET.Element(f"{{{NS}}}jingle")
    jingle.append(reason_xml)
    reason = parse_reason(jingle)
    assert reason is not None
    assert reason.text == text
    assert isinstance(reason.condition, Reason)
    if "}" not in namespace + name:  # braces make tags no XML parser produces
        known = namespace == NS and name in {reason.value for reason in Reason}
        assert reason.condition is (Reason(name) if known else Reason.GENERAL_ERROR)
    assert reason.to_xml().tag == f"{{{NS}}}reason"


@given(name=_XML_NAMES, use_jingle_ns=st.booleans())
def test_parse_reason_never_raises_on_parsed_xml(name: str, use_jingle_ns: bool) -> None:
    namespace = NS if use_jingle_ns else "urn:example:other"
    jingle = ET.fromstring(
        f"<jingle xmlns='{NS}'><reason><{name} xmlns='{namespace}'><sid>x</sid></{name}>"
        "</reason></jingle>"
    )
    reason = parse_reason(jingle)
    assert reason is not None
    assert isinstance(reason.condition, Reason)


# --- filling a <jingle/> -------------------------------------------------------------------------


def test_fill_appends_contents_and_extra_children() -> None:
    register_plugins()
    iq = Iq()
    jingle = iq["jingle"]
    jingle["action"] = "session-terminate"
    jingle["sid"] = "s1"
    [content] = parse_contents(jingle_of(SECURITY_INITIATE))
    fill(jingle, [content], [JingleReason(Reason.DECLINE, "no thanks").to_xml()])
    again = reparsed(iq.xml).find(f"{{{NS}}}jingle")
    assert again is not None
    assert again.get("action") == "session-terminate"
    assert parse_contents(again) == [content]
    assert parse_reason(again) == JingleReason(Reason.DECLINE, "no thanks")
