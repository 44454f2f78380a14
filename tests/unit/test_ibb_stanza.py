"""Jingle IBB wire formats: the <transport/> element, block-size negotiation, strict base64, seq."""

from __future__ import annotations

import base64
from xml.etree import ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slixmpp_jet.errors import ProtocolError, Reason
from slixmpp_jet.transports.ibb.stanza import (
    NS_JINGLE_IBB,
    IbbParameters,
    accept_answer,
    answer_offer,
    build_transport,
    decode_block,
    encode_block,
    new_sid,
    parse_seq,
    parse_transport,
)

XEP_0261_EXAMPLE = (
    "<transport xmlns='urn:xmpp:jingle:transports:ibb:1' block-size='4096' sid='ch3d9s71'/>"
)


def transport(**attributes: str) -> ET.Element:
    return ET.Element(f"{{{NS_JINGLE_IBB}}}transport", attributes)


def refusal(call, *args) -> ProtocolError:
    with pytest.raises(ProtocolError) as refused:
        call(*args)
    return refused.value


def test_parses_the_xep_example() -> None:
    assert parse_transport(ET.fromstring(XEP_0261_EXAMPLE)) == IbbParameters("ch3d9s71", 4096)


def test_built_transport_round_trips_and_says_iq() -> None:
    element = build_transport(IbbParameters("a-b_c.d:e", 2048))
    assert element.tag == f"{{{NS_JINGLE_IBB}}}transport"
    assert element.attrib == {"block-size": "2048", "sid": "a-b_c.d:e", "stanza": "iq"}
    assert parse_transport(ET.fromstring(ET.tostring(element))) == IbbParameters("a-b_c.d:e", 2048)


def test_fresh_sids_are_distinct_nmtokens() -> None:
    sids = {new_sid() for _ in range(100)}
    assert len(sids) == 100
    for sid in sids:
        assert parse_transport(transport(sid=sid, **{"block-size": "1"})).sid == sid


@pytest.mark.parametrize(
    "attributes",
    [
        {"block-size": "4096"},
        {"block-size": "4096", "sid": ""},
        {"block-size": "4096", "sid": "two words"},
        {"block-size": "4096", "sid": "a<b"},
        {"sid": "s"},
        {"sid": "s", "block-size": "0"},
        {"sid": "s", "block-size": "65536"},
        {"sid": "s", "block-size": "-1"},
        {"sid": "s", "block-size": "+5"},
        {"sid": "s", "block-size": " 5"},
        {"sid": "s", "block-size": "4_096"},
        {"sid": "s", "block-size": "lots"},
        {"sid": "s", "block-size": "4096", "stanza": "presence"},
    ],
)
def test_malformed_transports_are_bad_requests(attributes: dict[str, str]) -> None:
    assert refusal(parse_transport, transport(**attributes)).condition == "bad-request"


def test_a_foreign_element_is_a_bad_request() -> None:
    element = ET.Element("{urn:xmpp:jingle:transports:s5b:1}transport", sid="s")
    assert refusal(parse_transport, element).condition == "bad-request"


def test_message_stanzas_are_refused_clearly() -> None:
    error = refusal(parse_transport, transport(sid="s", stanza="message", **{"block-size": "8"}))
    assert error.condition == "feature-not-implemented"
    assert error.reason is Reason.INCOMPATIBLE_PARAMETERS
    assert "only stanza='iq'" in str(error)


def test_the_largest_legal_block_size_is_accepted() -> None:
    assert parse_transport(transport(sid="s", **{"block-size": "65535"})).block_size == 65535


@pytest.mark.parametrize(
    ("offered", "limit", "answered"), [(4096, 2048, 2048), (1024, 65535, 1024)]
)
def test_the_answer_keeps_the_sid_and_the_smaller_block_size(offered, limit, answered) -> None:
    assert answer_offer(IbbParameters("s", offered), limit) == IbbParameters("s", answered)


def test_the_offerer_keeps_the_smaller_block_size() -> None:
    ours = IbbParameters("s", 4096)
    assert accept_answer(ours, IbbParameters("s", 2048)) == IbbParameters("s", 2048)
    assert accept_answer(ours, IbbParameters("s", 8192)) == IbbParameters("s", 4096)


def test_an_answer_for_another_sid_is_a_bad_request() -> None:
    error = refusal(accept_answer, IbbParameters("ours", 4096), IbbParameters("theirs", 4096))
    assert error.condition == "bad-request"


@given(st.binary(max_size=300))
def test_blocks_round_trip_through_base64(block: bytes) -> None:
    text = encode_block(block)
    assert text == base64.b64encode(block).decode()
    assert decode_block(text) == block
    assert decode_block(f"\n  {text}\n") == block


@pytest.mark.parametrize(
    "text",
    ["QQ=A", "QQ", "Q", "QQ===", "Q*==", "QQ==QQ==", "QUJD RA==", "QUJ\nDRA==", "QR==", "ÄÄÄÄ"],
)
def test_base64_is_checked_strictly(text: str) -> None:
    assert refusal(decode_block, text).condition == "bad-request"


def test_an_empty_block_is_zero_bytes() -> None:
    assert decode_block(None) == b""
    assert decode_block("") == b""


@pytest.mark.parametrize(("text", "seq"), [("0", 0), ("1", 1), ("65535", 65535)])
def test_seq_attribute_in_range(text: str, seq: int) -> None:
    assert parse_seq(text) == seq


@pytest.mark.parametrize("text", [None, "", "65536", "-1", "+1", "x", "1.0"])
def test_seq_attribute_out_of_range_is_a_bad_request(text: str | None) -> None:
    assert refusal(parse_seq, text).condition == "bad-request"
