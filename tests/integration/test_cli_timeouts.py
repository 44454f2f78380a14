"""The command line's time limits, end to end: a peer that never answers an offer, and one that
stops sending halfway, each end the command with a JSON failure line whose reason is
``timeout``, exit status 1 and nothing left behind."""

from __future__ import annotations

import asyncio

import pytest
from cli_helpers import json_lines
from raw_peer import BLOCK_SIZE, RawPeer, file_content, ibb_transport, new_sid, reason_of

from slixmpp_jet.testing.clients import connect, disconnect, make_client
from slixmpp_jet.testing.demo import write_random_file

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]

NOT_ENCRYPTED = ("--encrypt", "none")


def assert_timed_out(record: dict) -> None:
    assert (record["outcome"], record["reason"]) == ("failed", "timeout"), record
    assert "timed out" in record["error"], record


async def test_offer_nobody_answers_ends_after_the_accept_timeout(
    prosody, accounts, cli, tmp_path
) -> None:
    alice, bob = accounts(2)
    silent = make_client(prosody, bob, "silent", ["xep_0234"])
    offers = asyncio.Queue()
    silent.add_event_handler("jingle_file_offer", offers.put_nowait)  # looks, never answers
    await connect(silent, prosody)
    source = tmp_path / "unanswered.bin"
    write_random_file(source, 1000)
    try:
        sending = cli.start(alice, "send", "--to", f"{bob.jid}/silent", "--json", *NOT_ENCRYPTED,
                            "--accept-timeout", "1", str(source), ready=False)  # fmt: skip
        sent = await asyncio.to_thread(sending.finish)
    finally:
        await disconnect(silent)

    assert not offers.empty(), "the offer arrived"
    assert sent.status == 1, sent.stderr
    [record] = json_lines(sent.stdout)
    assert_timed_out(record)


async def test_sender_going_silent_ends_receive_after_the_idle_timeout(
    prosody, accounts, cli, tmp_path
) -> None:
    bob, peer_account = accounts(2)
    receiving = cli.start(bob, "receive", "--dir", str(tmp_path), "--count", "1", "--json",
                          *NOT_ENCRYPTED, "--idle-timeout", "1", resource="r")  # fmt: skip
    peer = RawPeer(make_client(prosody, peer_account, "raw"))
    await connect(peer.client, prosody)
    to, sid, ibb_sid = f"{bob.jid}/r", new_sid(), new_sid()
    try:
        offer = file_content(ibb_transport(ibb_sid), "silent.bin", 8 * BLOCK_SIZE)
        await peer.initiate(to, sid, offer)
        await peer.wait_for("session-accept", sid)
        await peer.ibb_open(to, ibb_sid)
        await peer.ibb_send(to, ibb_sid, blocks=4)  # half the file, then silence
        terminate = await peer.wait_for("session-terminate", sid)
        received = await asyncio.to_thread(receiving.finish)
    finally:
        await disconnect(peer.client)

    assert reason_of(terminate) == "timeout"
    assert received.status == 1, received.stderr
    [record] = json_lines(received.stdout)
    assert_timed_out(record)
    assert list(tmp_path.iterdir()) == []
