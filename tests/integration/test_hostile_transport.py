"""Offers whose transport turns out unusable still end properly: the offering peer gets a
``session-terminate``, our application a clear error, and the session is forgotten.

The transport parameters are only read when the application accepts, so each offer here is
accepted; a value the parser refuses must not leave the session half alive (answering pings).
"""

from __future__ import annotations

from collections.abc import Callable
from xml.etree import ElementTree as ET

import pytest
from raw_peer import (
    NS_ERRORS,
    direct_candidate,
    file_content,
    ibb_transport,
    new_sid,
    reason_of,
    s5b_transport,
    session_info,
)
from slixmpp.exceptions import IqError

from slixmpp_jet import JetError
from slixmpp_jet.errors import LocalFileError

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]

UNUSED_PORT = 9  # discard: nothing listens there on the test host

Unusable = Callable[[str, str], ET.Element]
"""``(transport sid, offering peer's JID)`` → an unusable ``<transport/>``."""

UNUSABLE: dict[str, tuple[Unusable, str]] = {
    "ibb-block-size-0": (lambda sid, _: ibb_transport(sid, "0"), "block-size"),
    "ibb-block-size-1e9": (lambda sid, _: ibb_transport(sid, "1000000000"), "block-size"),
    "ibb-block-size-negative": (lambda sid, _: ibb_transport(sid, "-1"), "block-size"),
    "ibb-block-size-abc": (lambda sid, _: ibb_transport(sid, "abc"), "block-size"),
    "s5b-port-0": (lambda sid, jid: s5b_transport(sid, (direct_candidate(jid, 0),)), "port"),
    "s5b-mode-udp": (
        lambda sid, jid: s5b_transport(sid, (direct_candidate(jid, UNUSED_PORT),), mode="udp"),
        "mode",
    ),
}
"""Each unusable transport, and the word a clear error about it names."""


@pytest.mark.parametrize("case", list(UNUSABLE), ids=list(UNUSABLE))
async def test_unusable_transport_ends_the_session(ours_and_peer, accepting, tmp_path, case):
    ours, peer = ours_and_peer
    unusable, named = UNUSABLE[case]
    to, sid = ours.boundjid.full, new_sid()

    await peer.initiate(to, sid, file_content(unusable(new_sid(), peer.jid), "bad.bin", 1000))

    terminate = await peer.wait_for("session-terminate", sid)
    assert reason_of(terminate) not in (None, "success")
    error = await accepting.failure()
    assert isinstance(error, JetError), repr(error)
    assert named in str(error)
    with pytest.raises(IqError) as refused:
        await peer.send(to, session_info(sid))
    assert refused.value.condition == "item-not-found"
    assert refused.value.iq["error"].xml.find(f"{{{NS_ERRORS}}}unknown-session") is not None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", [10**15, 2**62], ids=["1-PB", "2^62"])
async def test_a_file_too_large_for_our_disk_is_refused_before_any_byte(
    ours_and_peer, accepting, tmp_path, size
) -> None:
    ours, peer = ours_and_peer
    to, sid = ours.boundjid.full, new_sid()

    await peer.initiate(to, sid, file_content(ibb_transport(new_sid()), "huge.bin", size))

    terminate = await peer.wait_for("session-terminate", sid)
    assert reason_of(terminate) == "failed-application"
    assert peer.received("session-accept", sid) == []  # refused before accepting
    error = await accepting.failure()
    assert isinstance(error, LocalFileError), repr(error)
    assert f"{size} bytes announced" in str(error)
    assert list(tmp_path.iterdir()) == []
