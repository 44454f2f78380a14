"""JET-OMEMO encrypted transfers between real slixmpp-omemo clients on a real Prosody."""

from __future__ import annotations

import asyncio
import base64
import logging
import time

import pytest
import pytest_asyncio
from ft_helpers import Corrupting, Receiver, WireRecorder, leftovers, make_file

from slixmpp_jet import EnvelopeError, JetError, Reason, TransferError
from slixmpp_jet.file_transfer import job as job_module
from slixmpp_jet.jet.envelope import EnvelopeContext

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]
TRANSPORTS = ["s5b", "ibb"]
AES_128 = "urn:xmpp:ciphers:aes-128-gcm-nopadding"


@pytest_asyncio.fixture
async def pair(accounts, jet_client):
    alice_account, bob_account = accounts(2)
    return await jet_client(alice_account, "a"), await jet_client(bob_account, "b")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_encrypted_offer(pair, dirs, transport, monkeypatch) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    wire = WireRecorder(monkeypatch)
    plaintext = b"attack at dawn " * 20_000
    source = outbox / "plans.txt"
    source.write_bytes(plaintext)

    sent = await alice.plugin["xep_0234"].send_file(
        bob.boundjid, source, encrypt="omemo", transport=transport
    )
    offer = await asyncio.wait_for(receiver.offers.get(), 10)
    assert offer.encrypted
    assert offer.security.envelope == "omemo"
    assert offer.security.cipher == AES_128
    assert f"of {alice.boundjid.bare}" in offer.security.sender_identity
    received = await receiver.next_transfer()
    sent_result, received_result = await asyncio.gather(sent, received)

    assert (inbox / "plans.txt").read_bytes() == plaintext
    assert received_result.security.envelope == sent_result.security.envelope == "omemo"
    assert received_result.sha256 == sent_result.sha256
    assert len(wire.data) == len(plaintext) + 16
    assert b"attack at dawn" not in wire.data


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_encrypted_request(pair, dirs, transport, monkeypatch) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    wire = WireRecorder(monkeypatch)
    source = make_file(outbox, "served.bin", 250_000)
    bob.plugin["xep_0234"].serve(outbox)

    transfer = await alice.plugin["xep_0234"].request_file(
        bob.boundjid, inbox, name="served.bin", encrypt="omemo", transport=transport
    )
    result = await transfer
    assert (inbox / "served.bin").read_bytes() == source.read_bytes()
    assert result.security.envelope == "omemo"
    assert len(wire.data) == 250_000 + 16
    assert source.read_bytes()[:64] not in wire.data


@pytest.mark.parametrize("mode", ["ciphertext", "tag", "short", "long"])
async def test_tampered_stream_leaves_no_file(pair, dirs, mode, monkeypatch) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "victim.bin", 100_000)
    monkeypatch.setattr(Corrupting, "mode", mode)
    monkeypatch.setattr(job_module, "EncryptingSink", Corrupting)

    sent = await alice.plugin["xep_0234"].send_file(
        bob.boundjid, source, encrypt="omemo", transport="ibb"
    )
    received = await receiver.next_transfer()
    with pytest.raises(JetError) as refused:
        await received
    assert refused.value.reason is Reason.SECURITY_ERROR
    with pytest.raises(TransferError, match="security-error"):
        await sent
    assert leftovers(inbox) == []


async def test_envelope_sealed_by_a_third_account_is_refused(accounts, jet_client, dirs) -> None:
    alice_account, bob_account, carol_account = accounts(3)
    alice = await jet_client(alice_account, "a")
    bob = await jet_client(bob_account, "b")
    carol = await jet_client(carol_account, "c")
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    refused = asyncio.Queue()
    bob.add_event_handler("jingle_offer_refused", refused.put_nowait)
    source = make_file(outbox, "forged.bin", 1000)

    alice_jet = alice.plugin["xep_0391"]
    real_seal = alice_jet.seal

    async def seal_as_carol(envelope, cipher, content_name, context):
        forged = EnvelopeContext(context.sid, str(carol.boundjid), context.recipient)
        return await carol.plugin["xep_0391"].seal(envelope, cipher, content_name, forged)

    alice_jet.seal = seal_as_carol
    try:
        sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, encrypt="omemo")
    finally:
        alice_jet.seal = real_seal
    with pytest.raises(TransferError, match="security-error"):
        await sent
    refusal = await asyncio.wait_for(refused.get(), 5)
    assert refusal.peer == str(alice.boundjid)
    assert refusal.error.reason is Reason.SECURITY_ERROR
    assert receiver.offers.empty()
    assert leftovers(inbox) == []


async def test_no_plaintext_fallback_without_omemo(accounts, jet_client, dirs) -> None:
    alice_account, bob_account = accounts(2)
    alice = await jet_client(alice_account, "a")
    bob = await jet_client(bob_account, "b", omemo=False)
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "secret.bin", 1000)

    with pytest.raises(EnvelopeError, match="refusing to send unencrypted"):
        await alice.plugin["xep_0234"].send_file(bob.boundjid, source, encrypt="omemo")
    await asyncio.sleep(0.5)
    assert receiver.offers.empty()


def rewrite_security(client, change) -> None:
    """Make ``client`` send its <security/> changed the way another client would write it."""
    jet = client.plugin["xep_0391"]
    real_seal = jet.seal

    async def seal(*args):
        element, security = await real_seal(*args)
        change(element)
        return element, security

    jet.seal = seal


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda security: security.attrib.pop("name"), id="dino-without-name"),
        pytest.param(
            lambda security: security.set("cipher", AES_128 + ":0"), id="cipher-with-version"
        ),
        pytest.param(
            lambda security: security.set("cipher", "aes-128-gcm-nopadding:0"), id="prose-cipher"
        ),
    ],
)
async def test_deployed_security_variants_are_accepted(pair, dirs, variant) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    rewrite_security(alice, variant)
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "variant.bin", 70_000)
    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, encrypt="omemo")
    await asyncio.gather(sent, await receiver.next_transfer())
    assert (inbox / "variant.bin").read_bytes() == source.read_bytes()


async def test_security_naming_another_content_is_refused(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    rewrite_security(alice, lambda security: security.set("name", "another-content"))
    receiver = Receiver(bob, inbox)
    sent = await alice.plugin["xep_0234"].send_file(
        bob.boundjid, make_file(outbox, "x.bin", 10), encrypt="omemo"
    )
    with pytest.raises(TransferError):
        await sent
    assert receiver.offers.empty()


async def test_payload_form_for_libervia_peers(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    alice.plugin["xep_0391"].envelope("omemo").use_payload_form(bob.boundjid.bare)
    sent_security = []
    rewrite_security(alice, sent_security.append)
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "libervia.bin", 50_000)
    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, encrypt="omemo")
    await asyncio.gather(sent, await receiver.next_transfer())
    assert (inbox / "libervia.bin").read_bytes() == source.read_bytes()
    axolotl = "{eu.siacs.conversations.axolotl}"
    assert sent_security[0].find(f"{axolotl}encrypted/{axolotl}payload") is not None


async def test_keys_never_reach_the_logs(pair, dirs, caplog) -> None:
    """The IV travels in the clear (XEP-0396 <iv>); the key must appear nowhere."""
    alice, bob = pair
    outbox, inbox = dirs
    jet = alice.plugin["xep_0391"]
    real_seal = jet.seal
    secrets = []

    async def seal(*args):
        element, security = await real_seal(*args)
        secrets.append(security.secret)
        return element, security

    jet.seal = seal
    receiver = Receiver(bob, inbox)
    for logger in ("", "slixmpp", "slixmpp_jet", "omemo"):  # other tests may have quietened some
        caplog.set_level(logging.DEBUG, logger=logger)
    sent = await alice.plugin["xep_0234"].send_file(
        bob.boundjid, make_file(outbox, "quiet.bin", 5000), encrypt="omemo"
    )
    await asyncio.gather(sent, await receiver.next_transfer())

    (secret,) = secrets
    logged = caplog.text
    assert "urn:xmpp:jingle:jet:0" in logged, "the stanzas themselves were logged"
    for form in (secret.key.hex(), base64.b64encode(secret.key).decode(), repr(secret.key)):
        assert form not in logged
    assert secret.key.hex() not in repr(secret)


@pytest.mark.parametrize("encrypt", [None, "omemo"])
async def test_socks5_bytes_move_while_the_event_loop_is_blocked(pair, dirs, encrypt) -> None:
    """Over SOCKS5 both ends' worker threads carry the data (read, encrypt, send; receive,
    decrypt, write): a blocked event loop stops neither. On the loop, the receiver's disk
    thread could only finish the one batch (256 KiB) it was handed."""
    alice, bob = pair
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    size = 64 * 1024 * 1024
    source = make_file(outbox, "big.bin", size)
    sent = await alice.plugin["xep_0234"].send_file(
        bob.boundjid, source, encrypt=encrypt, transport="s5b"
    )
    received = await receiver.next_transfer()
    while not (parts := list(inbox.glob(".*.part"))) or parts[0].stat().st_size == 0:
        await asyncio.sleep(0.005)
    before = parts[0].stat().st_size
    time.sleep(1.5)  # the whole process's event loop: both clients stand still
    grown = parts[0].stat().st_size - before

    sent_result, received_result = await asyncio.gather(sent, received)
    assert grown >= 8 * 1024 * 1024, f"only {grown} bytes arrived while the loop was blocked"
    assert received_result.transport == sent_result.transport == "urn:xmpp:jingle:transports:s5b:1"
    assert (inbox / "big.bin").read_bytes() == source.read_bytes()
    assert leftovers(inbox) == ["big.bin"]
