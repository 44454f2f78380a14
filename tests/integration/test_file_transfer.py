"""File offers, requests, declines and cancels between two real clients on a real Prosody."""

from __future__ import annotations

import asyncio
from xml.etree import ElementTree as ET

import pytest
import pytest_asyncio
from ft_helpers import PLUGINS, Receiver, leftovers, make_file
from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from slixmpp_jet import (
    Direction,
    JetError,
    Reason,
    TransferCancelled,
    TransferDeclined,
    TransferError,
)
from slixmpp_jet.testing.demo import sha256_of

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]
IBB = "ibb"


@pytest_asyncio.fixture
async def pair(accounts, client_factory):
    alice_account, bob_account = accounts(2)
    alice = await client_factory(alice_account, "a", PLUGINS)
    bob = await client_factory(bob_account, "b", PLUGINS)
    return alice, bob


@pytest.mark.parametrize("size", [0, 1, 5 * 1024 * 1024])
async def test_offer_arrives_identical(pair, dirs, size) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "data.bin", size)

    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, transport=IBB)
    received = await receiver.next_transfer()
    sent_result, received_result = await asyncio.gather(sent, received)

    destination = inbox / "data.bin"
    assert destination.read_bytes() == source.read_bytes()
    assert received_result.path == destination
    assert received_result.size == sent_result.size == size
    assert received_result.sha256 == sent_result.sha256 == sha256_of(source)
    assert received_result.hash_verified
    assert received_result.direction is Direction.RECEIVE
    assert received_result.transport == "urn:xmpp:jingle:transports:ibb:1"
    assert received_result.security is None
    assert leftovers(inbox) == ["data.bin"]


async def test_both_sides_announce_each_transfer_they_start(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    started: dict[str, list] = {"alice": [], "bob": []}
    alice.add_event_handler("jingle_transfer_started", started["alice"].append)
    bob.add_event_handler("jingle_transfer_started", started["bob"].append)
    bob.plugin["xep_0234"].serve(outbox)
    make_file(outbox, "served.bin", 1000)

    requested = await alice.plugin["xep_0234"].request_file(
        bob.boundjid, inbox, name="served.bin", transport=IBB
    )
    assert started["alice"] == [requested]  # from session-initiate on, before any byte
    await requested
    [served] = started["bob"]
    assert served.direction is Direction.SEND and served.file.name == "served.bin"
    assert (await served).size == 1000


async def test_offer_event_describes_the_file(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "report.pdf", 1234)

    sent = await alice.plugin["xep_0234"].send_file(
        bob.boundjid, source, desc="quarterly", transport=IBB
    )
    offer = await asyncio.wait_for(receiver.offers.get(), 10)
    assert offer.peer == str(alice.boundjid)
    assert offer.file.name == "report.pdf"
    assert offer.file.size == 1234
    assert offer.file.media_type == "application/pdf"
    assert offer.file.desc == "quarterly"
    assert not offer.encrypted
    await sent


async def test_request_is_served(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    source = make_file(outbox, "served.bin", 300_000)
    bob.plugin["xep_0234"].serve(outbox)

    transfer = await alice.plugin["xep_0234"].request_file(
        bob.boundjid, inbox, name="served.bin", transport=IBB
    )
    result = await transfer
    assert (inbox / "served.bin").read_bytes() == source.read_bytes()
    assert result.size == 300_000
    assert result.hash_verified


async def test_request_outside_served_directory_is_refused(pair, dirs, tmp_path) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    (tmp_path / "secret.txt").write_text("not for you")
    bob.plugin["xep_0234"].serve(outbox)

    transfer = await alice.plugin["xep_0234"].request_file(
        bob.boundjid, inbox, name="../secret.txt", transport=IBB
    )
    with pytest.raises(TransferError, match="failed-application"):
        await transfer
    assert leftovers(inbox) == []


async def test_decline(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    Receiver(bob, inbox, accept=False)
    failures = asyncio.Queue()
    alice.add_event_handler("jingle_transfer_failed", failures.put_nowait)
    source = make_file(outbox, "unwanted.bin", 1000)

    transfer = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, transport=IBB)
    with pytest.raises(TransferDeclined):
        await transfer
    failure = await asyncio.wait_for(failures.get(), 5)
    assert failure.transfer is transfer
    assert isinstance(failure.error, TransferDeclined)
    assert leftovers(inbox) == []


async def test_offer_over_max_size_is_declined(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    bob.plugin["xep_0234"].max_size = 100
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "big.bin", 101)

    transfer = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, transport=IBB)
    with pytest.raises(TransferDeclined, match="100 bytes"):
        await transfer
    assert receiver.offers.empty()


async def test_cancel_mid_transfer_leaves_nothing(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "long.bin", 20 * 1024 * 1024)
    started = asyncio.Event()
    bob.add_event_handler("jingle_transfer_progress", lambda transfer: started.set())

    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, transport=IBB)
    received = await receiver.next_transfer()
    await asyncio.wait_for(started.wait(), 30)
    sent.cancel()

    with pytest.raises(TransferCancelled):
        await sent
    with pytest.raises(TransferCancelled):
        await received
    assert leftovers(inbox) == []


async def test_hash_mismatch_leaves_no_file(pair, dirs, monkeypatch) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "tampered.bin", 10_000)

    from slixmpp_jet.file_transfer import job as job_module

    real_checksum = job_module.build_checksum

    def lying_checksum(creator, name, hashes, *_):
        return real_checksum(creator, name, {algo: bytes(len(d)) for algo, d in hashes.items()})

    monkeypatch.setattr(job_module, "build_checksum", lying_checksum)
    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, transport=IBB)
    received = await receiver.next_transfer()
    with pytest.raises(TransferError, match="hash"):
        await received
    with pytest.raises(TransferError, match="media-error"):
        await sent
    assert leftovers(inbox) == []


async def test_two_transfers_at_once(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    first = make_file(outbox, "first.bin", 400_000)
    second = make_file(outbox, "second.bin", 500_000)

    sending = await asyncio.gather(
        alice.plugin["xep_0234"].send_file(bob.boundjid, first, transport=IBB),
        alice.plugin["xep_0234"].send_file(bob.boundjid, second, transport=IBB),
    )
    receiving = [await receiver.next_transfer(), await receiver.next_transfer()]
    await asyncio.gather(*sending, *receiving)
    assert (inbox / "first.bin").read_bytes() == first.read_bytes()
    assert (inbox / "second.bin").read_bytes() == second.read_bytes()


async def test_third_party_cannot_touch_a_live_session(accounts, client_factory, dirs) -> None:
    alice_account, bob_account, mallory_account = accounts(3)
    alice = await client_factory(alice_account, "a", PLUGINS)
    bob = await client_factory(bob_account, "b", PLUGINS)
    mallory = await client_factory(mallory_account, "m", PLUGINS)
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "private.bin", 2 * 1024 * 1024)

    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, transport=IBB)
    received = await receiver.next_transfer()

    iq = mallory.make_iq_set(ito=bob.boundjid)
    iq["jingle"]["action"] = "session-terminate"
    iq["jingle"]["sid"] = received.sid
    with pytest.raises(IqError) as refused:
        await iq.send(timeout=10)
    assert refused.value.condition == "item-not-found"
    error = refused.value.iq["error"].xml
    assert error.find("{urn:xmpp:jingle:errors:1}unknown-session") is not None

    await asyncio.gather(sent, received)
    assert (inbox / "private.bin").read_bytes() == source.read_bytes()


async def test_hostile_name_stays_inside_the_directory(pair, dirs, tmp_path) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "x.bin", 10)

    sent = await alice.plugin["xep_0234"].send_file(
        bob.boundjid, source, name="../../escape.sh", transport=IBB
    )
    result = (await asyncio.gather(sent, await receiver.next_transfer()))[1]
    assert result.path.parent == inbox
    assert leftovers(inbox) == ["escape.sh"]
    assert not (tmp_path / "escape.sh").exists()


async def test_existing_file_is_never_overwritten(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    (inbox / "same.txt").write_text("keep me")
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "same.txt", 50)

    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, transport=IBB)
    result = (await asyncio.gather(sent, await receiver.next_transfer()))[1]
    assert (inbox / "same.txt").read_text() == "keep me"
    assert result.path == inbox / "same (1).txt"
    assert result.path.read_bytes() == source.read_bytes()


async def test_serving_encrypted_only_refuses_a_plain_request(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    make_file(outbox, "served.bin", 100)
    bob.plugin["xep_0234"].serve(outbox, require_encryption=True)

    transfer = await alice.plugin["xep_0234"].request_file(
        bob.boundjid, inbox, name="served.bin", transport=IBB
    )
    with pytest.raises(TransferError, match="security-error"):
        await transfer
    assert leftovers(inbox) == []


async def test_serve_policy_can_refuse(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    make_file(outbox, "served.bin", 100)
    asked = []
    bob.plugin["xep_0234"].serve(outbox, allow=lambda peer, file: asked.append((peer, file.name)))

    transfer = await alice.plugin["xep_0234"].request_file(
        bob.boundjid, inbox, name="served.bin", transport=IBB
    )
    with pytest.raises(TransferError, match="failed-application"):
        await transfer
    assert asked == [(str(alice.boundjid), "served.bin")]


async def test_requested_file_over_max_size_is_refused(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    make_file(outbox, "huge.bin", 5000)
    bob.plugin["xep_0234"].serve(outbox)
    alice.plugin["xep_0234"].max_size = 4999

    transfer = await alice.plugin["xep_0234"].request_file(
        bob.boundjid, inbox, name="huge.bin", transport=IBB
    )
    with pytest.raises(TransferError, match="over 4999 bytes") as refused:
        await transfer
    assert refused.value.reason is Reason.MEDIA_ERROR
    assert leftovers(inbox) == []


async def test_empty_session_info_is_a_ping(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "pinged.bin", 1000)
    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, transport=IBB)
    offer = await asyncio.wait_for(receiver.offers.get(), 10)

    ping = alice.make_iq_set(ito=bob.boundjid)
    ping["jingle"]["action"] = "session-info"
    ping["jingle"]["sid"] = offer.transfer.sid
    result = await ping.send(timeout=10)
    assert result["type"] == "result"

    unknown = alice.make_iq_set(ito=bob.boundjid)
    unknown["jingle"]["action"] = "session-info"
    unknown["jingle"]["sid"] = offer.transfer.sid
    unknown["jingle"].xml.append(ET.Element("{urn:example:nonsense}ringing"))
    with pytest.raises(IqError) as refused:
        await unknown.send(timeout=10)
    assert refused.value.condition == "feature-not-implemented"
    error = refused.value.iq["error"].xml
    assert error.find("{urn:xmpp:jingle:errors:1}unsupported-info") is not None
    await asyncio.gather(sent, await receiver.next_transfer())


async def test_receiver_vanishing_mid_transfer_fails_the_sender(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "orphan.bin", 20 * 1024 * 1024)
    started = asyncio.Event()
    bob.add_event_handler("jingle_transfer_progress", lambda transfer: started.set())

    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, transport=IBB)
    received = await receiver.next_transfer()
    await asyncio.wait_for(started.wait(), 30)
    bob.disconnect(wait=False)

    with pytest.raises(JetError) as failed:
        await asyncio.wait_for(sent.wait(), 60)
    assert failed.value.reason in (Reason.GONE, Reason.FAILED_TRANSPORT)
    with pytest.raises(JetError, match="lost our connection to the server"):
        await asyncio.wait_for(received.wait(), 30)
    assert leftovers(inbox) == []


async def test_content_add_is_acked_then_rejected(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "one.bin", 300_000)
    rejections = asyncio.Queue()

    def watch(iq) -> None:
        if iq["jingle"]["action"] == "content-reject":
            rejections.put_nowait(iq)

    alice.register_handler(
        Callback("watch", MatchXPath("{jabber:client}iq/{urn:xmpp:jingle:1}jingle"), watch)
    )
    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, transport=IBB)
    received = await receiver.next_transfer()

    add = alice.make_iq_set(ito=bob.boundjid)
    add["jingle"]["action"] = "content-add"
    add["jingle"]["sid"] = received.sid
    second = ET.SubElement(
        add["jingle"].xml, "{urn:xmpp:jingle:1}content", creator="initiator", name="second-file"
    )
    second.append(ET.Element("{urn:xmpp:jingle:apps:file-transfer:5}description"))
    assert (await add.send(timeout=10))["type"] == "result"

    rejection = await asyncio.wait_for(rejections.get(), 10)
    contents = rejection["jingle"].xml.findall("{urn:xmpp:jingle:1}content")
    assert [content.get("name") for content in contents] == ["second-file"]
    await asyncio.gather(sent, received)
    assert (inbox / "one.bin").read_bytes() == source.read_bytes()
