"""Every session ends: peers that stall mid-file or never read are ended by the idle timeout.

Our side is a real client with ``idle_timeout`` set low; the other side is a :class:`RawPeer`
that does its part of the protocol by hand and then goes silent. Each test checks the whole
end: ``session-terminate`` with ``<timeout/>`` on the wire, a ``TransferError`` whose reason is
``timeout``, no partial file, and every socket and file of this process released.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import Counter
from xml.etree import ElementTree as ET

import pytest
import pytest_asyncio
from ft_helpers import make_file
from raw_peer import (
    BLOCK_SIZE,
    NS_JINGLE,
    Socks5Candidate,
    direct_candidate,
    file_content,
    ibb_transport,
    jingle,
    new_sid,
    reason_of,
    s5b_notice,
    s5b_transport,
    socks5_connect,
    transport_info,
    transport_of,
)

from slixmpp_jet import Reason, TransferError
from slixmpp_jet.file_transfer.pipeline import DISK_THREAD
from slixmpp_jet.file_transfer.stanza import build_checksum

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]

IDLE_TIMEOUT = 1.0
MIB = 1024 * 1024
SETTLE_TIMEOUT = 15.0
"""Bound on waiting for closed sockets and files to be released (not a timing assertion)."""


def held_descriptors() -> list[str]:
    """What this process holds open: sockets and files (pipes and event descriptors aside),
    and its disk threads (which carry SOCKS5 data: one stuck in a read would hold a socket)."""
    held = [
        "thread:disk" for thread in threading.enumerate() if thread.name.startswith(DISK_THREAD)
    ]
    for descriptor in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{descriptor}")
        except OSError:  # the directory's own descriptor, closed by now
            continue
        if target.startswith(("socket:", "/")):
            held.append(target)
    return held


async def released(before: list[str]) -> None:
    """Wait until this process holds no more sockets and files than ``before``; fail if it
    still does after a while, naming what is left over."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SETTLE_TIMEOUT):
            while len(held_descriptors()) > len(before):
                await asyncio.sleep(0.05)
    now = held_descriptors()
    assert len(now) <= len(before), f"still held: {Counter(now) - Counter(before)}"


@pytest_asyncio.fixture
async def ours_and_peer(ours_and_peer):
    """Our client, with ``idle_timeout`` low, and a raw peer."""
    ours, _ = ours_and_peer
    ours.plugin["xep_0234"].idle_timeout = IDLE_TIMEOUT
    return ours_and_peer


def assert_timed_out(error: BaseException) -> None:
    assert isinstance(error, TransferError), repr(error)
    assert error.reason is Reason.TIMEOUT, repr(error)


# -- a sender that stalls mid-file ------------------------------------------------------------


async def test_sender_stalling_over_ibb_is_ended(ours_and_peer, accepting, tmp_path) -> None:
    ours, peer = ours_and_peer
    to, sid, ibb_sid = ours.boundjid.full, new_sid(), new_sid()
    before = held_descriptors()

    await peer.initiate(to, sid, file_content(ibb_transport(ibb_sid), "stall.bin", 8 * BLOCK_SIZE))
    await peer.wait_for("session-accept", sid)
    await peer.ibb_open(to, ibb_sid)
    await peer.ibb_send(to, ibb_sid, blocks=4)  # half the file, then silence

    terminate = await peer.wait_for("session-terminate", sid)
    assert reason_of(terminate) == "timeout"
    assert_timed_out(await accepting.failure())
    assert list(tmp_path.iterdir()) == []
    await released(before)


async def test_sender_stalling_over_socks5_is_ended(ours_and_peer, accepting, tmp_path) -> None:
    ours, peer = ours_and_peer
    to, sid, s5b_sid = ours.boundjid.full, new_sid(), new_sid()
    candidate = Socks5Candidate()
    port = await candidate.start()
    size = MIB
    before = held_descriptors()

    offer = s5b_transport(s5b_sid, (direct_candidate(peer.jid, port),))
    await peer.initiate(to, sid, file_content(offer, "stall.bin", size))
    await peer.wait_for("session-accept", sid)
    error_notice = s5b_notice(s5b_sid, "candidate-error")  # we use none of theirs
    await peer.send(to, transport_info(sid, "a-file-offer", error_notice))
    _, writer = await asyncio.wait_for(candidate.connections.get(), 30)
    await peer.wait_for("transport-info", sid)  # their candidate-used: ours carries the bytes
    writer.write(os.urandom(size // 2))  # half the file, then silence
    await writer.drain()

    terminate = await peer.wait_for("session-terminate", sid)
    assert reason_of(terminate) == "timeout"
    assert_timed_out(await accepting.failure())
    assert list(tmp_path.iterdir()) == []
    writer.close()  # the peer's end of the connection: not ours to count
    await released(before)
    await candidate.close()


# -- a requester that never reads -------------------------------------------------------------


@pytest.fixture
def serving(ours_and_peer, tmp_path):
    """Our side serves ``wanted.bin`` (64 MiB: more than any socket buffer holds); the queue
    gets each served transfer's failure."""
    ours, _ = ours_and_peer
    make_file(tmp_path, "wanted.bin", 64 * MIB)
    ours.plugin["xep_0234"].serve(tmp_path)
    failures = asyncio.Queue()
    ours.add_event_handler("jingle_transfer_failed", lambda failure: failures.put_nowait(failure))
    return failures


async def test_requester_never_acknowledging_ibb_data_is_ended(ours_and_peer, serving) -> None:
    ours, peer = ours_and_peer
    peer.ack_ibb_data = False
    to, sid, ibb_sid = ours.boundjid.full, new_sid(), new_sid()
    before = held_descriptors()

    await peer.initiate(to, sid, file_content(ibb_transport(ibb_sid), "wanted.bin", request=True))
    await peer.wait_for("session-accept", sid)
    await peer.ibb_open(to, ibb_sid)
    await peer.wait_until(lambda: peer.ibb_data_received > 0)  # data comes; nobody reads it

    terminate = await peer.wait_for("session-terminate", sid)
    assert reason_of(terminate) == "timeout"
    failure = await asyncio.wait_for(serving.get(), 30)
    assert_timed_out(failure.error)
    await released(before)


async def test_requester_never_connecting_over_socks5_is_ended(ours_and_peer, serving) -> None:
    ours, peer = ours_and_peer
    to, sid, s5b_sid = ours.boundjid.full, new_sid(), new_sid()
    before = held_descriptors()

    await peer.initiate(to, sid, file_content(s5b_transport(s5b_sid), "wanted.bin", request=True))
    await peer.wait_for("session-accept", sid)  # and then nothing: no connection, no report

    terminate = await peer.wait_for("session-terminate", sid)
    assert reason_of(terminate) == "timeout"
    failure = await asyncio.wait_for(serving.get(), 30)
    assert_timed_out(failure.error)
    await released(before)


async def test_requester_never_reading_from_socks5_is_ended(ours_and_peer, serving) -> None:
    ours, peer = ours_and_peer
    to, sid, s5b_sid = ours.boundjid.full, new_sid(), new_sid()
    before = held_descriptors()

    await peer.initiate(to, sid, file_content(s5b_transport(s5b_sid), "wanted.bin", request=True))
    accept = await peer.wait_for("session-accept", sid)
    offered = transport_of(accept)
    their = offered.find("*[@host='127.0.0.1']")
    assert their is not None, "our side offers a loopback candidate"
    _, writer = await socks5_connect("127.0.0.1", int(their.get("port")), offered.get("dstaddr"))
    used = s5b_notice(s5b_sid, "candidate-used", their.get("cid"))
    await peer.send(to, transport_info(sid, "a-file-request", used))  # then never read

    terminate = await peer.wait_for("session-terminate", sid)
    assert reason_of(terminate) == "timeout"
    failure = await asyncio.wait_for(serving.get(), 30)
    assert_timed_out(failure.error)
    writer.close()  # the peer's end of the connection: not ours to count
    await released(before)


# -- an offer withdrawn before the peer answered it -------------------------------------------


async def test_an_offer_cancelled_before_its_ack_still_ends_the_session(
    ours_and_peer, tmp_path
) -> None:
    ours, peer = ours_and_peer
    peer.ack_initiate = False
    source = make_file(tmp_path, "withdrawn.bin", 1000)
    sending = asyncio.ensure_future(ours.plugin["xep_0234"].send_file(peer.jid, source))
    await peer.wait_until(lambda: bool(peer.initiated()))
    [initiate] = peer.initiated()
    sending.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sending

    terminate = await peer.wait_for("session-terminate", initiate.get("sid"))
    assert reason_of(terminate) == "cancel"


# -- a peer that answers before it acknowledges ----------------------------------------------


async def test_a_session_accept_that_overtakes_the_ack_of_our_initiate_counts(
    ours_and_peer, tmp_path
) -> None:
    """A peer may send session-accept before it acknowledges our session-initiate: the
    transfer goes on (the accept went unheard, and the offer waited for ever). What the job
    holds until it starts stays bounded, however much the peer sends."""
    ours, peer = ours_and_peer
    peer.ack_initiate = False
    opened = peer.accept_ibb_streams()
    size = 100_000
    source = make_file(tmp_path, "early.bin", size)
    sending = asyncio.ensure_future(
        ours.plugin["xep_0234"].send_file(peer.jid, source, transport="ibb")
    )
    await peer.wait_until(lambda: bool(peer.unanswered))
    [initiate] = peer.initiated()
    sid = initiate.get("sid")
    for _ in range(20):  # what comes before the ack is held for the job's start: a bounded hold
        checksum = jingle("session-info", sid)
        checksum.append(build_checksum("initiator", "a-file-offer", {"sha-256": bytes(32)}))
        await peer.send(ours.boundjid.full, checksum)
    [job] = ours.plugin["xep_0234"]._jobs.values()
    assert len(job._held) == 1, job._held
    accept = jingle("session-accept", sid, responder=peer.jid)
    accept.append(file_content(transport_of(initiate), "early.bin"))
    await peer.send(ours.boundjid.full, accept)
    peer.unanswered.pop().reply().send()

    transfer = await asyncio.wait_for(sending, 30)
    await asyncio.wait_for(opened.wait(), 30)
    block_size = int(transport_of(initiate).get("block-size"))
    await peer.wait_until(lambda: peer.ibb_data_received * block_size >= size)
    await peer.wait_for("session-info", sid)  # the checksum
    terminate = jingle("session-terminate", sid)
    ET.SubElement(ET.SubElement(terminate, f"{{{NS_JINGLE}}}reason"), f"{{{NS_JINGLE}}}success")
    await peer.send(ours.boundjid.full, terminate)
    result = await asyncio.wait_for(transfer, 30)
    assert job._held is None
    assert result.transport == "urn:xmpp:jingle:transports:ibb:1"
    assert result.size == size
