"""The peer gate of the API: session limits per account and in total, sizes, unanswered offers.

Our side is a real client; the other side is a :class:`RawPeer` sending offers by hand. A peer
over a limit gets a ``<decline/>`` with a text, before anything of its offer is read; a slot
frees when one of its sessions ends.
"""

from __future__ import annotations

import asyncio
import os
import xml.etree.ElementTree as ET

import pytest
from ft_helpers import Receiver, make_file
from raw_peer import BLOCK_SIZE, RawPeer, file_content, ibb_transport, jingle, new_sid, reason_of

from slixmpp_jet import Reason, TransferError
from slixmpp_jet.errors import LocalFileError
from slixmpp_jet.file_transfer.admission import RefusedPeer
from slixmpp_jet.jingle.stanza import NS as NS_JINGLE
from slixmpp_jet.testing.clients import connect, disconnect, make_client
from slixmpp_jet.testing.prosody import ProsodyServer

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]


def reason_text(terminate: ET.Element) -> str:
    text = terminate.find(f"{{{NS_JINGLE}}}reason/{{{NS_JINGLE}}}text")
    return "" if text is None or text.text is None else text.text


class Holding:
    """An application that takes note of every offer and answers none (a slow human)."""

    def __init__(self, client) -> None:
        self.offers: list = []
        self.refused: list[RefusedPeer] = []
        client.add_event_handler("jingle_file_offer", self.offers.append)
        client.add_event_handler("jingle_peer_refused", self.refused.append)


async def offer(peer: RawPeer, to: str, size: int | None = 1000) -> str:
    sid = new_sid()
    await peer.initiate(to, sid, file_content(ibb_transport(new_sid()), "f.bin", size))
    return sid


async def test_sessions_over_the_per_account_limit_are_declined_until_one_ends(
    ours_and_peer,
) -> None:
    ours, peer = ours_and_peer
    ours.plugin["xep_0234"].max_sessions_per_peer = 3
    app = Holding(ours)
    to = ours.boundjid.full

    sids = [await offer(peer, to) for _ in range(5)]
    declined = [await peer.wait_for("session-terminate", sid) for sid in sids[3:]]
    await peer.wait_until(lambda: len(app.offers) == 3)

    for terminate in declined:
        assert reason_of(terminate) == "decline"
        assert "too many sessions at once from this account" in reason_text(terminate)
    assert [p.why for p in app.refused] == [
        "too many sessions at once from this account (at most 3)"
    ] * 2
    assert all(not peer.received("session-terminate", sid) for sid in sids[:3])

    await peer.send(to, jingle("session-terminate", sids[0]))  # one of the three ends
    later = await offer(peer, to)
    await peer.wait_until(lambda: len(app.offers) == 4)
    assert not peer.received("session-terminate", later)


async def test_the_total_limit_counts_every_account(
    ours_and_peer, prosody: ProsodyServer, accounts
) -> None:
    ours, peer = ours_and_peer
    ours.plugin["xep_0234"].max_sessions = 2
    app = Holding(ours)
    to = ours.boundjid.full
    [other_account] = accounts(1)
    other = RawPeer(make_client(prosody, other_account, "raw"))
    await connect(other.client, prosody)
    try:
        await offer(peer, to)
        await offer(peer, to)
        third = await offer(other, to)
        terminate = await other.wait_for("session-terminate", third)
    finally:
        await disconnect(other.client)

    assert reason_of(terminate) == "decline"
    assert reason_text(terminate) == "too many sessions at once (at most 2)"
    assert len(app.offers) == 2


async def test_an_offer_nobody_answers_ends_with_timeout(ours_and_peer) -> None:
    ours, peer = ours_and_peer
    ours.plugin["xep_0234"].answer_timeout = 0.5
    app = Holding(ours)

    sid = await offer(peer, ours.boundjid.full)
    terminate = await peer.wait_for("session-terminate", sid)

    assert reason_of(terminate) == "timeout"
    [late] = app.offers
    with pytest.raises(TransferError, match="already ended"):
        await late.accept(".")


async def test_an_offer_of_unknown_size_is_refused_under_max_size(ours_and_peer, accepting) -> None:
    ours, peer = ours_and_peer
    ours.plugin["xep_0234"].max_size = 10 * BLOCK_SIZE

    sid = await offer(peer, ours.boundjid.full, size=None)
    terminate = await peer.wait_for("session-terminate", sid)

    assert reason_of(terminate) == "decline"
    assert "unknown size" in reason_text(terminate)
    assert list(accepting.directory.iterdir()) == []


async def test_a_stream_of_unknown_size_is_cut_at_max_size(ours_and_peer, accepting) -> None:
    ours, peer = ours_and_peer
    ours.plugin["xep_0234"].max_size = 3 * BLOCK_SIZE
    ours.plugin["xep_0234"].accept_unknown_size = True
    to, sid, ibb_sid = ours.boundjid.full, new_sid(), new_sid()

    await peer.initiate(to, sid, file_content(ibb_transport(ibb_sid), "endless.bin"))
    await peer.wait_for("session-accept", sid)
    await peer.ibb_open(to, ibb_sid)
    await peer.ibb_send_until_refused(to, ibb_sid, blocks=6)  # twice the limit
    terminate = await peer.wait_for("session-terminate", sid)
    error = await accepting.failure()

    assert reason_of(terminate) == "media-error"
    assert isinstance(error, TransferError) and error.reason is Reason.MEDIA_ERROR
    assert f"past {3 * BLOCK_SIZE} bytes" in str(error)
    assert list(accepting.directory.iterdir()) == []


async def test_an_offer_that_would_leave_too_little_free_space_is_refused(
    ours_and_peer, accepting
) -> None:
    ours, peer = ours_and_peer
    free = os.statvfs(accepting.directory)
    ours.plugin["xep_0234"].free_space_margin = free.f_bavail * free.f_frsize  # all of it

    sid = await offer(peer, ours.boundjid.full, size=1000)
    terminate = await peer.wait_for("session-terminate", sid)
    error = await accepting.failure()

    assert reason_of(terminate) == "failed-application"
    assert "must stay free" in str(error)
    assert not peer.received("session-accept", sid)
    assert list(accepting.directory.iterdir()) == []


async def test_the_gate_runs_first_for_requests_too(ours_and_peer, tmp_path) -> None:
    ours, peer = ours_and_peer
    (tmp_path / "f.bin").write_bytes(b"x" * 100)
    ours.plugin["xep_0234"].serve(tmp_path)
    ours.plugin["xep_0234"].allow_peer = lambda jid: False
    refused: asyncio.Queue[RefusedPeer] = asyncio.Queue()
    ours.add_event_handler("jingle_peer_refused", refused.put_nowait)

    sid = new_sid()
    request = file_content(ibb_transport(new_sid()), "f.bin", request=True)
    await peer.initiate(ours.boundjid.full, sid, request)
    terminate = await peer.wait_for("session-terminate", sid)

    assert reason_of(terminate) == "decline"
    assert (await refused.get()).peer == peer.jid


async def test_our_own_offers_wait_for_room_instead_of_being_declined(
    accounts, client_factory, dirs
) -> None:
    """Twelve offers at once to one peer whose limit is four: we send four at a time, so the
    peer declines none and every file arrives."""
    alice_account, bob_account = accounts(2)
    alice = await client_factory(alice_account, "a", ("xep_0234",))
    bob = await client_factory(bob_account, "b", ("xep_0234",))
    for client in (alice, bob):
        client.plugin["xep_0234"].max_sessions_per_peer = 4
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    refused: list[RefusedPeer] = []
    bob.add_event_handler("jingle_peer_refused", refused.append)
    sources = [make_file(outbox, f"f{i}.bin", 10_000 + i) for i in range(12)]

    sending = await asyncio.gather(
        *(alice.plugin["xep_0234"].send_file(bob.boundjid, source, transport="ibb")
          for source in sources)
    )  # fmt: skip
    results = await asyncio.gather(*sending)

    assert refused == []
    assert len(results) == 12 and receiver.offers.qsize() == 12
    for source in sources:
        assert (inbox / source.name).read_bytes() == source.read_bytes()


async def test_accepting_into_a_missing_directory_ends_the_session(
    ours_and_peer, tmp_path
) -> None:
    ours, peer = ours_and_peer
    errors: asyncio.Queue[BaseException] = asyncio.Queue()

    async def accept_into_nowhere(offer) -> None:
        try:
            await offer.accept(tmp_path / "missing")
        except Exception as error:
            errors.put_nowait(error)

    ours.add_event_handler("jingle_file_offer", accept_into_nowhere)
    sid = await offer(peer, ours.boundjid.full)
    terminate = await peer.wait_for("session-terminate", sid)  # the sender is not left waiting
    error = await asyncio.wait_for(errors.get(), 10)

    assert reason_of(terminate) == "failed-application"
    assert isinstance(error, LocalFileError)
    assert "missing is not a directory" in str(error)
