"""XEP-0260 §2.3-2.4 nomination rules, as a table."""

from __future__ import annotations

import pytest

from slixmpp_jet.transports.s5b.nomination import (
    NoCandidate,
    Nominated,
    UsedCandidate,
    nominate,
    worth_trying,
)

HIGH, LOW = 8257636, 655360
NONE = NoCandidate()
OURS_HIGH, OURS_LOW = UsedCandidate("peer-high", HIGH), UsedCandidate("peer-low", LOW)
THEIRS_HIGH, THEIRS_LOW = UsedCandidate("our-high", HIGH), UsedCandidate("our-low", LOW)


@pytest.mark.parametrize(
    ("local", "remote", "initiator", "expected"),
    [
        # rule 1: both candidate-error -> failure, whoever initiated
        (NONE, NONE, True, None),
        (NONE, NONE, False, None),
        # rule 2: candidate-used beats candidate-error
        (OURS_LOW, NONE, True, Nominated("peer-low", LOW, ours=False)),
        (OURS_LOW, NONE, False, Nominated("peer-low", LOW, ours=False)),
        (NONE, THEIRS_LOW, True, Nominated("our-low", LOW, ours=True)),
        (NONE, THEIRS_LOW, False, Nominated("our-low", LOW, ours=True)),
        # rule 3: both used, different priorities -> the higher one
        (OURS_HIGH, THEIRS_LOW, True, Nominated("peer-high", HIGH, ours=False)),
        (OURS_HIGH, THEIRS_LOW, False, Nominated("peer-high", HIGH, ours=False)),
        (OURS_LOW, THEIRS_HIGH, True, Nominated("our-high", HIGH, ours=True)),
        (OURS_LOW, THEIRS_HIGH, False, Nominated("our-high", HIGH, ours=True)),
        # rule 4: equal priorities -> the initiator's choice
        (OURS_HIGH, THEIRS_HIGH, True, Nominated("peer-high", HIGH, ours=False)),
        (OURS_HIGH, THEIRS_HIGH, False, Nominated("our-high", HIGH, ours=True)),
        (OURS_LOW, THEIRS_LOW, True, Nominated("peer-low", LOW, ours=False)),
        (OURS_LOW, THEIRS_LOW, False, Nominated("our-low", LOW, ours=True)),
    ],
)
def test_nomination(local, remote, initiator, expected) -> None:
    assert nominate(local, remote, initiator=initiator) == expected


@pytest.mark.parametrize(
    ("local", "remote"),
    [
        (OURS_HIGH, THEIRS_LOW),
        (OURS_LOW, THEIRS_HIGH),
        (OURS_HIGH, THEIRS_HIGH),
        (NONE, THEIRS_LOW),
    ],
)
def test_both_parties_reach_the_same_nomination(local, remote) -> None:
    """Seen from the other side, our report is the peer's and the roles swap."""
    ours = nominate(local, remote, initiator=True)
    theirs = nominate(remote, local, initiator=False)
    assert ours is not None and theirs is not None
    assert (ours.cid, ours.priority, ours.ours) == (theirs.cid, theirs.priority, not theirs.ours)


@pytest.mark.parametrize(
    ("priority", "remote", "initiator", "expected"),
    [
        (LOW, None, False, True),  # no report yet: everything is worth a try
        (LOW, NONE, False, True),  # the peer failed: anything we reach wins
        (HIGH, UsedCandidate("x", LOW), False, True),  # higher would win
        (LOW, UsedCandidate("x", HIGH), True, False),  # lower cannot win
        (HIGH, UsedCandidate("x", HIGH), True, True),  # a tie goes to the initiator
        (HIGH, UsedCandidate("x", HIGH), False, False),  # ... so the responder stops
    ],
)
def test_worth_trying(priority, remote, initiator, expected) -> None:
    assert worth_trying(priority, remote, initiator=initiator) is expected
