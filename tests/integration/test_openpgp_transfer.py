"""JET transfers with the OpenPGP envelope, real gpg keys, on the real Prosody.

Every refusal must end the session with ``security-error`` and leave no file behind.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import pytest
import pytest_asyncio
from ft_helpers import Receiver, leftovers, make_file
from gpg_helpers import gpg_homes

from slixmpp_jet import TransferError
from slixmpp_jet.jet import openpgp
from slixmpp_jet.jet.openpgp import OpenPGPEnvelope
from slixmpp_jet.testing.clients import connect, disconnect, make_client

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]
AES_256 = "urn:xmpp:ciphers:aes-256-gcm-nopadding:0"


class Party:
    def __init__(self, client, home, fingerprint, envelope) -> None:
        self.client, self.home, self.fingerprint, self.envelope = (
            client,
            home,
            fingerprint,
            envelope,
        )

    @property
    def ft(self):
        return self.client.plugin["xep_0234"]


@pytest.fixture
def homes():
    with gpg_homes() as make:
        yield make


@pytest_asyncio.fixture
async def parties(prosody, accounts, homes):
    """``await parties(pinned=True)``: alice and bob with OpenPGP keys, connected."""
    made = []

    async def create(pinned: bool = True):
        accounts_made = accounts(2)
        gpg = [homes() for _ in accounts_made]
        fingerprints = [h.new_key(f"xmpp:{a.jid}") for h, a in zip(gpg, accounts_made, strict=True)]
        if pinned:
            gpg[0].learn(gpg[1], fingerprints[1])
            gpg[1].learn(gpg[0], fingerprints[0])
        result = []
        for index, account in enumerate(accounts_made):
            other = accounts_made[1 - index]
            client = make_client(prosody, account, "pgp", ["xep_0234"])
            envelope = OpenPGPEnvelope(
                client,
                gpg[index].path,
                pinned={other.jid: [fingerprints[1 - index]]} if pinned else None,
                fetch_from_pep=not pinned,
            )
            client.plugin["xep_0391"].add_envelope(envelope)
            made.append(client)
            await connect(client, prosody)
            result.append(Party(client, gpg[index], fingerprints[index], envelope))
        if not pinned:
            for party in result:
                await party.envelope.publish_key()
        return result

    yield create
    for client in made:
        await disconnect(client)


async def test_offer_with_pinned_keys(parties, dirs) -> None:
    alice, bob = await parties(pinned=True)
    outbox, inbox = dirs
    receiver = Receiver(bob.client, inbox)
    source = make_file(outbox, "signed.bin", 200_000)

    sent = await alice.ft.send_file(bob.client.boundjid, source, encrypt="openpgp")
    offer = await asyncio.wait_for(receiver.offers.get(), 15)
    assert offer.security.envelope == "openpgp"
    assert offer.security.cipher == AES_256
    assert alice.fingerprint in offer.security.sender_identity
    received = await receiver.next_transfer()
    await asyncio.gather(sent, received)
    assert (inbox / "signed.bin").read_bytes() == source.read_bytes()


async def test_request_with_keys_discovered_through_pep(parties, dirs) -> None:
    alice, bob = await parties(pinned=False)
    outbox, inbox = dirs
    source = make_file(outbox, "served.bin", 123_456)
    bob.ft.serve(outbox)

    transfer = await alice.ft.request_file(
        bob.client.boundjid, inbox, name="served.bin", encrypt="openpgp"
    )
    result = await transfer
    assert result.security.envelope == "openpgp"
    assert (inbox / "served.bin").read_bytes() == source.read_bytes()


async def refused(alice, bob, dirs) -> None:
    """Alice offers a file; bob must refuse it with security-error and keep nothing."""
    outbox, inbox = dirs
    receiver = Receiver(bob.client, inbox)
    source = make_file(outbox, "refused.bin", 1000)
    sent = await alice.ft.send_file(bob.client.boundjid, source, encrypt="openpgp")
    with pytest.raises(TransferError, match="security-error"):
        await sent
    assert receiver.offers.empty()
    assert leftovers(inbox) == []


def sealing_with(alice, bob, signer):
    """A seal() that builds a real OpenPGP envelope for bob, signed by ``signer`` (or not)."""

    async def seal(secret, context):
        plaintext = openpgp._signcrypt(bob.client.boundjid.bare, context.sid, secret).decode()
        message = alice.home.encrypt(plaintext, [bob.fingerprint, alice.fingerprint], sign=signer)
        element = ET.Element("{urn:xmpp:openpgp:0}openpgp")
        element.text = base64.b64encode(message).decode()
        return element

    return seal


async def test_envelope_sealed_the_normal_way_is_accepted(parties, dirs, monkeypatch) -> None:
    alice, bob = await parties()
    outbox, inbox = dirs
    monkeypatch.setattr(alice.envelope, "seal", sealing_with(alice, bob, alice.fingerprint))
    receiver = Receiver(bob.client, inbox)
    sent = await alice.ft.send_file(
        bob.client.boundjid, make_file(outbox, "ok.bin", 10), encrypt="openpgp"
    )
    await asyncio.gather(sent, await receiver.next_transfer())
    assert leftovers(inbox) == ["ok.bin"]


async def test_unsigned_envelope_is_refused(parties, dirs, monkeypatch) -> None:
    alice, bob = await parties()
    monkeypatch.setattr(alice.envelope, "seal", sealing_with(alice, bob, None))
    await refused(alice, bob, dirs)


async def test_envelope_signed_by_a_key_of_another_jid_is_refused(
    parties, dirs, monkeypatch
) -> None:
    alice, bob = await parties()
    mallory_key = alice.home.new_key("xmpp:mallory@localhost")
    monkeypatch.setattr(alice.envelope, "seal", sealing_with(alice, bob, mallory_key))
    await refused(alice, bob, dirs)


async def test_envelope_addressed_to_someone_else_is_refused(parties, dirs, monkeypatch) -> None:
    alice, bob = await parties()
    real = openpgp._signcrypt
    monkeypatch.setattr(
        openpgp, "_signcrypt", lambda recipient, sid, secret: real("carol@localhost", sid, secret)
    )
    await refused(alice, bob, dirs)


async def test_stale_envelope_is_refused(parties, dirs, monkeypatch) -> None:
    alice, bob = await parties()
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    monkeypatch.setattr(openpgp, "xep0082_now", lambda: an_hour_ago)
    await refused(alice, bob, dirs)


async def test_envelope_replayed_from_an_earlier_session_is_refused(parties, dirs) -> None:
    alice, bob = await parties()
    outbox, inbox = dirs
    receiver = Receiver(bob.client, inbox)
    jet = alice.client.plugin["xep_0391"]
    real_seal = jet.seal
    recorded = []

    async def recording_seal(*args):
        sealed = await real_seal(*args)
        recorded.append(sealed)
        return sealed

    jet.seal = recording_seal
    first = make_file(outbox, "first.bin", 500)
    sent = await alice.ft.send_file(bob.client.boundjid, first, encrypt="openpgp")
    await asyncio.gather(sent, await receiver.next_transfer())
    (inbox / "first.bin").unlink()

    async def replay(*args):
        return recorded[0]

    jet.seal = replay
    try:
        await refused(alice, bob, dirs)
    finally:
        jet.seal = real_seal
