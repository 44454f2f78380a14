"""The data-channel element codec and the SDP munging, against the forms Conversations builds.

The examples are written from Conversations' source (see ``transports/webrtc/WIRE.md``): its
session-initiate transport (credentials, fingerprint, ICE option, no candidates) and its
trickled transport-info (one candidate with a random UUID id).
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from slixmpp_jet.errors import ProtocolError
from slixmpp_jet.transports.webrtc.sdp import (
    candidate_from_sdp,
    candidate_to_sdp,
    local_transport,
    remote_sdp,
    with_ids,
)
from slixmpp_jet.transports.webrtc.stanza import (
    MAX_CANDIDATES,
    NS,
    Candidate,
    DataChannelTransport,
    Fingerprint,
    build_transport,
    parse_transport,
    require_complete,
)

FINGERPRINT = ":".join(f"{n:02X}" for n in range(32))

CONVERSATIONS_INITIATE = f"""
<transport xmlns='urn:xmpp:jingle:transports:webrtc-datachannel:1'
           sctp-port='5000' max-message-size='262144'>
  <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' pwd='Yk9aQ3d8mP2sRtUvWxYz01' ufrag='Qb7e'>
    <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'
      >{FINGERPRINT}</fingerprint>
    <trickle xmlns='http://gultsch.de/xmpp/drafts/jingle/transports/ice-udp/option'/>
  </transport>
</transport>"""

CONVERSATIONS_TRANSPORT_INFO = """
<transport xmlns='urn:xmpp:jingle:transports:webrtc-datachannel:1'
           sctp-port='5000' max-message-size='262144'>
  <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' pwd='Yk9aQ3d8mP2sRtUvWxYz01' ufrag='Qb7e'>
    <candidate component='1' foundation='842163049' generation='0'
               id='3f0c4f4e-1c53-4b07-9d3e-7d2f9a0c1b2e' ip='203.0.113.7' port='51234'
               priority='1686052607' protocol='udp' type='srflx'
               rel-addr='192.168.1.20' rel-port='51234'/>
  </transport>
</transport>"""

AIORTC_OFFER = f"""v=0\r
o=- 3905193507 3905193507 IN IP4 0.0.0.0\r
s=-\r
t=0 0\r
a=group:BUNDLE 0\r
a=msid-semantic:WMS *\r
m=application 59654 UDP/DTLS/SCTP webrtc-datachannel\r
c=IN IP4 127.0.0.2\r
a=mid:0\r
a=sctp-port:5000\r
a=max-message-size:262144\r
a=candidate:f957a2 1 udp 2130706431 127.0.0.2 59654 typ host\r
a=candidate:d0bcf3 1 udp 1694498815 198.51.100.4 40000 typ srflx raddr 127.0.0.2 rport 59654\r
a=end-of-candidates\r
a=ice-ufrag:tozd\r
a=ice-pwd:BB9Nb8Xb2bKQjoHeGeiNiY\r
a=fingerprint:sha-256 {FINGERPRINT}\r
a=fingerprint:sha-384 {":".join(["AB"] * 48)}\r
a=setup:actpass\r
"""


def xml(text: str) -> ET.Element:
    return ET.fromstring(text)


def test_conversations_initiate_parses() -> None:
    transport = require_complete(parse_transport(xml(CONVERSATIONS_INITIATE)))
    assert transport == DataChannelTransport(
        ufrag="Qb7e",
        pwd="Yk9aQ3d8mP2sRtUvWxYz01",
        fingerprint=Fingerprint("sha-256", FINGERPRINT, "actpass"),
        sctp_port=5000,
        max_message_size=262144,
        ice_options=("trickle",),
    )


def test_conversations_transport_info_parses() -> None:
    transport = parse_transport(xml(CONVERSATIONS_TRANSPORT_INFO))
    assert transport.ufrag == "Qb7e"
    assert transport.fingerprint is None
    assert transport.candidates == (
        Candidate(
            foundation="842163049",
            component=1,
            protocol="udp",
            priority=1686052607,
            ip="203.0.113.7",
            port=51234,
            type="srflx",
            generation=0,
            id="3f0c4f4e-1c53-4b07-9d3e-7d2f9a0c1b2e",
            rel_addr="192.168.1.20",
            rel_port=51234,
        ),
    )


@pytest.mark.parametrize("example", [CONVERSATIONS_INITIATE, CONVERSATIONS_TRANSPORT_INFO])
def test_what_we_build_is_what_conversations_builds(example) -> None:
    """Same namespaces, nesting, attribute names and values, text."""
    assert shape(build_transport(parse_transport(xml(example)))) == shape(xml(example))


def shape(element: ET.Element) -> tuple:
    text = (element.text or "").strip()
    return element.tag, sorted(element.attrib.items()), text, [shape(child) for child in element]


def test_the_outer_element_alone_is_a_transport_without_ice() -> None:
    transport = parse_transport(xml(f"<transport xmlns='{NS}' sctp-port='5000'/>"))
    assert transport == DataChannelTransport(sctp_port=5000)
    with pytest.raises(ProtocolError, match="ufrag"):
        require_complete(transport)


def test_unknown_ice_options_and_children_are_ignored() -> None:
    element = xml(CONVERSATIONS_INITIATE)
    ice = element[0]
    ET.SubElement(ice, "{http://gultsch.de/xmpp/drafts/jingle/transports/ice-udp/option}future")
    ET.SubElement(ice, "{urn:example}unrelated")
    assert parse_transport(element).ice_options == ("trickle",)


def replace_in(example: str, old: str, new: str) -> ET.Element:
    assert old in example
    return xml(example.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("setup='actpass'", "setup='holdconn'", "setup"),
        (f">{FINGERPRINT}<", ">not-hex<", "fingerprint"),
        ("ufrag='Qb7e'", "ufrag='Q b7e'", "ufrag"),
        ("sctp-port='5000'", "sctp-port='70000'", "sctp-port"),
        ("max-message-size='262144'", "max-message-size='-1'", "max-message-size"),
    ],
)
def test_malformed_initiate_is_a_bad_request(old, new, message) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_transport(replace_in(CONVERSATIONS_INITIATE, old, new))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("port='51234'", "port='x'", "port"),
        ("type='srflx'", "type='magic'", "type"),
        ("ip='203.0.113.7'", "ip=''", "ip"),
        ("ip='203.0.113.7'", "ip='example.com'", "ip"),
        ("rel-addr='192.168.1.20'", "rel-addr='999.1.1.1'", "rel-addr"),
        ("priority='1686052607'", "priority='99999999999'", "priority"),
        ("rel-port='51234'", "rel-port='65536'", "rel-port"),
    ],
)
def test_malformed_candidate_is_a_bad_request(old, new, message) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_transport(replace_in(CONVERSATIONS_TRANSPORT_INFO, old, new))


def test_too_many_candidates_are_refused() -> None:
    element = xml(CONVERSATIONS_TRANSPORT_INFO)
    ice = element[0]
    for _ in range(MAX_CANDIDATES):
        ice.append(ET.fromstring(ET.tostring(ice[0])))
    with pytest.raises(ProtocolError, match="candidates"):
        parse_transport(element)


def test_another_element_is_refused() -> None:
    with pytest.raises(ProtocolError, match="WebRTC"):
        parse_transport(xml("<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'/>"))


# -- SDP -------------------------------------------------------------------------------------


def test_conversations_element_becomes_the_sdp_conversations_would_make() -> None:
    sdp = remote_sdp(parse_transport(xml(CONVERSATIONS_INITIATE)), "0").split("\r\n")
    assert "m=application 9 UDP/DTLS/SCTP webrtc-datachannel" in sdp
    assert "c=IN IP4 0.0.0.0" in sdp
    for line in (
        "a=mid:0",
        "a=ice-ufrag:Qb7e",
        "a=ice-pwd:Yk9aQ3d8mP2sRtUvWxYz01",
        "a=ice-options:trickle",
        f"a=fingerprint:sha-256 {FINGERPRINT}",
        "a=setup:actpass",
        "a=sctp-port:5000",
        "a=max-message-size:262144",
    ):
        assert line in sdp
    assert not any(line.startswith("a=candidate") for line in sdp)


def test_missing_sctp_parameters_get_the_rfc_defaults() -> None:
    element = xml(CONVERSATIONS_INITIATE)
    del element.attrib["sctp-port"]
    del element.attrib["max-message-size"]
    sdp = remote_sdp(parse_transport(element), "0")
    assert "a=sctp-port:5000\r\n" in sdp
    assert "a=max-message-size:65536\r\n" in sdp


def test_conversations_candidate_becomes_its_sdp_line() -> None:
    [candidate] = parse_transport(xml(CONVERSATIONS_TRANSPORT_INFO)).candidates
    assert candidate_to_sdp(candidate) == (
        "candidate:842163049 1 udp 1686052607 203.0.113.7 51234 typ srflx "
        "raddr 192.168.1.20 rport 51234 generation 0"
    )
    assert candidate_from_sdp(candidate_to_sdp(candidate)) == Candidate(
        **{**candidate.__dict__, "id": ""}
    )


def test_our_sdp_becomes_the_element_and_candidates() -> None:
    local = local_transport(AIORTC_OFFER)
    assert local.mid == "0"
    assert local.transport == DataChannelTransport(
        ufrag="tozd",
        pwd="BB9Nb8Xb2bKQjoHeGeiNiY",
        fingerprint=Fingerprint("sha-256", FINGERPRINT, "actpass"),
        sctp_port=5000,
        max_message_size=262144,
        ice_options=("trickle",),
    )
    host, srflx = local.candidates
    assert (host.type, host.ip, host.port, host.priority) == (
        "host",
        "127.0.0.2",
        59654,
        2130706431,
    )
    assert (srflx.rel_addr, srflx.rel_port) == ("127.0.0.2", 59654)
    numbered = with_ids(local.candidates, "c0ffee")
    assert [candidate.id for candidate in numbered] == ["c0ffee-1", "c0ffee-2"]


def test_our_element_and_candidates_make_a_sdp_our_side_reads_back() -> None:
    """Ours as the peer sees it (description plus the trickled candidates) round-trips."""
    local = local_transport(AIORTC_OFFER)
    seen = DataChannelTransport(**{**local.transport.__dict__, "candidates": local.candidates})
    again = local_transport(remote_sdp(seen, "0"))
    assert again.transport == local.transport
    assert again.candidates == local.candidates


@pytest.mark.parametrize("address", ["2001:db8::7", "0b7e4c1a-5d1f-4a55-9c0e-2f3b4d5e6f70.local"])
def test_ipv6_and_mdns_candidates_are_taken(address) -> None:
    element = replace_in(CONVERSATIONS_TRANSPORT_INFO, "ip='203.0.113.7'", f"ip='{address}'")
    assert parse_transport(element).candidates[0].ip == address
