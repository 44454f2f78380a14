"""Candidate priorities and DST.ADDR (XEP-0260 §2.2, XEP-0065 §5.3.2)."""

from __future__ import annotations

import pytest

from slixmpp_jet.transports.s5b.candidates import (
    CandidateType,
    candidate_priority,
    dstaddr,
    new_id,
)

SID = "vj3hs98y"
ROMEO = "romeo@montague.lit/orchard"
JULIET = "juliet@capulet.lit/balcony"


@pytest.mark.parametrize(
    ("kind", "preference"),
    [
        (CandidateType.DIRECT, 126),
        (CandidateType.ASSISTED, 120),
        (CandidateType.TUNNEL, 110),
        (CandidateType.PROXY, 10),
    ],
)
def test_priority_is_type_preference_shifted_plus_local_preference(kind, preference) -> None:
    assert kind.preference == preference
    assert candidate_priority(kind, 0) == preference * 65536
    assert candidate_priority(kind, 65535) == preference * 65536 + 65535


def test_every_direct_candidate_outranks_every_proxy() -> None:
    assert candidate_priority(CandidateType.DIRECT, 0) > candidate_priority(
        CandidateType.PROXY, 65535
    )


@pytest.mark.parametrize("local", [-1, 65536])
def test_local_preference_out_of_range_is_refused(local) -> None:
    with pytest.raises(ValueError, match="local preference"):
        candidate_priority(CandidateType.DIRECT, local)


def test_dstaddr_vectors_from_xep_0260() -> None:
    assert dstaddr(SID, ROMEO, JULIET) == "972b7bf47291ca609517f67f86b5081086052dad"
    assert dstaddr(SID, JULIET, ROMEO) == "1a12fb7bc625e55f3ed5b29a53dbe0e4aa7d80ba"


def test_dstaddr_normalizes_jids_first() -> None:
    assert dstaddr(SID, "Romeo@Montague.LIT/orchard", JULIET) == dstaddr(SID, ROMEO, JULIET)


def test_dstaddr_keeps_resource_case() -> None:
    assert dstaddr(SID, "romeo@montague.lit/Orchard", JULIET) != dstaddr(SID, ROMEO, JULIET)


def test_new_ids_differ() -> None:
    assert len({new_id() for _ in range(100)}) == 100
