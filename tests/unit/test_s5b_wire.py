"""The s5b <transport/> element: XEP-0260 examples in, our offers and notices round-trip."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from slixmpp_jet.errors import ProtocolError
from slixmpp_jet.transports.s5b.candidates import Candidate, CandidateType
from slixmpp_jet.transports.s5b.wire import (
    NS,
    Activated,
    CandidateError,
    CandidateUsed,
    Offer,
    ProxyError,
    build_notice,
    build_offer,
    parse_notice,
    parse_offer,
)

IBB = "urn:xmpp:jingle:transports:ibb:1"
INITIATE_EXAMPLE = f"""
<transport xmlns='{NS}' dstaddr='972b7bf47291ca609517f67f86b5081086052dad'
           mode='tcp' sid='vj3hs98y'>
  <candidate cid='hft54dqy' host='192.168.4.1' jid='romeo@montague.lit/orchard'
             port='5086' priority='8257636' type='direct'/>
  <candidate cid='hutr46fe' host='24.24.24.1' jid='romeo@montague.lit/orchard'
             port='5087' priority='8258636' type='direct'/>
  <candidate cid='xmdh4b7i' host='123.456.7.8' jid='streamer.shakespeare.lit'
             port='7625' priority='7878787' type='proxy'/>
</transport>
"""


def _transport(body: str = "", **attributes: str) -> ET.Element:
    attrs = " ".join(f"{k}='{v}'" for k, v in {"sid": "s1", **attributes}.items())
    return ET.fromstring(f"<transport xmlns='{NS}' {attrs}>{body}</transport>")


def _candidate(**overrides: str) -> str:
    attributes = {"cid": "c1", "host": "10.0.0.1", "jid": "a@b/c", "port": "1", "priority": "1"}
    attributes.update(overrides)
    attrs = " ".join(f"{k}='{v}'" for k, v in attributes.items() if v != "<absent>")
    return f"<candidate {attrs}/>"


def test_parses_the_session_initiate_example() -> None:
    offer = parse_offer(ET.fromstring(INITIATE_EXAMPLE))
    assert offer.sid == "vj3hs98y"
    assert offer.dstaddr == "972b7bf47291ca609517f67f86b5081086052dad"
    assert [c.cid for c in offer.candidates] == ["hft54dqy", "hutr46fe", "xmdh4b7i"]
    proxy = offer.candidates[2]
    assert proxy == Candidate(
        "xmdh4b7i", "123.456.7.8", 7625, "streamer.shakespeare.lit", CandidateType.PROXY, 7878787
    )


def test_offer_round_trips_without_mode() -> None:
    offer = Offer(
        "sid-1",
        "ab" * 20,
        (
            Candidate("c1", "192.0.2.7", 5086, "a@b/c", CandidateType.DIRECT, 8257636),
            Candidate("c2", "::1", 6000, "a@b/c", CandidateType.ASSISTED, 7929856),
            Candidate("c3", "proxy.b", 7777, "proxy.b", CandidateType.PROXY, 655360),
        ),
    )
    element = build_offer(offer)
    assert element.get("mode") is None
    assert parse_offer(ET.fromstring(ET.tostring(element))) == offer


def test_offer_without_dstaddr_or_candidates() -> None:
    element = build_offer(Offer("s1", None, ()))
    assert element.get("dstaddr") is None
    assert parse_offer(element) == Offer("s1", None, ())


def test_candidate_defaults_are_direct_and_port_1080() -> None:
    offer = parse_offer(_transport(_candidate(type="<absent>", port="<absent>")))
    assert offer.candidates[0].type is CandidateType.DIRECT
    assert offer.candidates[0].port == 1080


def test_udp_mode_is_not_implemented() -> None:
    with pytest.raises(ProtocolError, match="udp") as caught:
        parse_offer(_transport(mode="udp"))
    assert caught.value.condition == "feature-not-implemented"


@pytest.mark.parametrize(
    ("element", "message"),
    [
        (ET.fromstring(f"<transport xmlns='{IBB}' sid='s'/>"), "expected"),
        (ET.fromstring(f"<transport xmlns='{NS}'/>"), "sid"),
        (_transport(_candidate(cid="<absent>")), "cid"),
        (_transport(_candidate(host="")), "host"),
        (_transport(_candidate(jid="<absent>")), "jid"),
        (_transport(_candidate(priority="<absent>")), "priority"),
        (_transport(_candidate(priority="0")), "positive"),
        (_transport(_candidate(priority="-5")), "not a number"),
        (_transport(_candidate(priority="1e3")), "not a number"),
        (_transport(_candidate(port="70000")), "outside"),
        (_transport(_candidate(port="0")), "outside"),
        (_transport(_candidate(port=" 80")), "not a number"),
        (_transport(_candidate(type="relay")), "type"),
        (_transport(_candidate() + _candidate(host="10.0.0.2")), "cid"),
        (_transport(dstaddr="x" * 256), "dstaddr"),
        (_transport(dstaddr="\u00e9"), "dstaddr"),
    ],
)
def test_malformed_offers_are_bad_requests(element, message) -> None:
    with pytest.raises(ProtocolError, match=message) as caught:
        parse_offer(element)
    assert caught.value.condition == "bad-request"


@pytest.mark.parametrize(
    "notice", [CandidateUsed("hr65dqyd"), CandidateError(), Activated("xmdh4b7i"), ProxyError()]
)
def test_notices_round_trip(notice) -> None:
    element = build_notice("vj3hs98y", notice)
    assert element.get("sid") == "vj3hs98y"
    assert parse_notice(ET.fromstring(ET.tostring(element))) == ("vj3hs98y", notice)


def test_parses_the_candidate_used_example() -> None:
    element = _transport(f"<candidate-used xmlns='{NS}' cid='hr65dqyd'/>", sid="vj3hs98y")
    assert parse_notice(element) == ("vj3hs98y", CandidateUsed("hr65dqyd"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "exactly one"),
        ("<candidate-error/><proxy-error/>", "exactly one"),
        ("<candidate-used/>", "cid"),
        ("<activated cid=''/>", "cid"),
        ("<streamhost-used/>", "unknown"),
        ("<candidate-error xmlns='urn:other'/>", "unknown"),
    ],
)
def test_malformed_notices_are_bad_requests(body, message) -> None:
    with pytest.raises(ProtocolError, match=message) as caught:
        parse_notice(_transport(body))
    assert caught.value.condition == "bad-request"


def test_candidates_in_transport_info_are_not_implemented() -> None:
    with pytest.raises(ProtocolError, match="not supported") as caught:
        parse_notice(_transport(_candidate()))
    assert caught.value.condition == "feature-not-implemented"
