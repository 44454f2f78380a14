"""A short seeded fuzzing campaign (see ``slixmpp_jet.testing.fuzz``) against a real ``receive``
and ``serve``: no stream loss, no traceback, every IQ answered, no file left behind, and the
legitimate transfers still succeed."""

from __future__ import annotations

import pytest

from slixmpp_jet.testing.fuzz import run_campaign
from slixmpp_jet.testing.fuzz.mutations import FAMILIES

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]

SEED = 15
STANZAS = 2000


async def test_seeded_campaign_finds_nothing(prosody, tmp_path) -> None:
    report = await run_campaign(prosody, SEED, STANZAS, work=tmp_path)

    assert report.problems() == [], report.text()
    assert sum(report.sent.values()) == STANZAS
    assert set(report.sent) == set(FAMILIES)
    refused = {family for (family, outcome) in report.answers if outcome == "bad-request"}
    assert refused == set(FAMILIES), "every family had malformed stanzas refused"
    assert report.legitimate == {
        "send (warm-up)": True,
        "request (warm-up)": True,
        "send": True,
        "request": True,
    }
