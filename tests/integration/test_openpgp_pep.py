"""XEP-0373 keys over PEP on a real Prosody, and the OpenPGP envelope with keys found there."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from xml.etree import ElementTree as ET

import pytest
import slixmpp
from gpg_helpers import GpgHome, gpg_homes

from slixmpp_jet.errors import EnvelopeError
from slixmpp_jet.jet.envelope import EnvelopeContext, TransportSecret
from slixmpp_jet.jet.openpgp import OpenPGPEnvelope
from slixmpp_jet.jet.openpgp_pep import PUBLIC_KEYS_NODE, PepKeyDirectory, public_key_node

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]

NS = "urn:xmpp:openpgp:0"


@dataclass
class Party:
    jid: str
    client: slixmpp.ClientXMPP
    home: GpgHome
    fingerprint: str

    @property
    def directory(self) -> PepKeyDirectory:
        return PepKeyDirectory(self.client, self.home.gpg)

    def envelope(self, **options: object) -> OpenPGPEnvelope:
        return OpenPGPEnvelope(self.client, self.home.path, **options)

    def context_to(self, other: Party, sid: str = "pep-sid") -> EnvelopeContext:
        return EnvelopeContext(sid, f"{self.jid}/jet", f"{other.jid}/jet")


@pytest.fixture
def homes() -> Iterator[Callable[[], GpgHome]]:
    with gpg_homes() as make:
        yield make


@pytest.fixture
def parties(accounts, client_factory, homes):
    """``await parties(n)``: n connected accounts, each with its own home and xmpp: key."""

    async def create(count: int) -> list[Party]:
        made = []
        for account in accounts(count):
            home = homes()
            fingerprint = home.new_key(f"xmpp:{account.jid}")
            client = await client_factory(account, "jet", ["xep_0060"])
            made.append(Party(account.jid, client, home, fingerprint))
        return made

    return create


def secret() -> TransportSecret:
    return TransportSecret(os.urandom(32), os.urandom(12))


async def test_published_key_is_announced_and_imported_by_a_contact(parties) -> None:
    alice, bob = await parties(2)
    assert await alice.envelope().publish_key() == alice.fingerprint

    announced = await bob.directory.announced(alice.jid)
    assert [key.fingerprint for key in announced] == [alice.fingerprint]
    assert announced[0].date.endswith("Z")
    assert await bob.directory.fetch(alice.jid) == (alice.fingerprint,)
    imported = bob.home.gpg.list_keys(keys=[alice.fingerprint])
    assert imported[0]["uids"] == [f"xmpp:{alice.jid}"]


async def test_key_data_node_holds_the_binary_key(parties) -> None:
    alice, bob = await parties(2)
    await alice.directory.publish(alice.fingerprint)
    result = await bob.client.plugin["xep_0060"].get_items(
        alice.jid, public_key_node(alice.fingerprint), max_items=1
    )
    [item] = list(result["pubsub"]["items"])
    data = base64.b64decode(item["payload"].findtext(f"{{{NS}}}data"))
    assert data[0] & 0x80, "a raw OpenPGP packet, not ASCII armor"
    assert [key["fingerprint"] for key in bob.home.gpg.scan_keys_mem(data)] == [alice.fingerprint]


async def test_second_key_joins_the_list_and_republishing_does_not_duplicate(parties) -> None:
    alice, bob = await parties(2)
    second = alice.home.new_key(f"xmpp:{alice.jid}")
    await alice.directory.publish(alice.fingerprint)
    await alice.directory.publish(second)
    await alice.directory.publish(alice.fingerprint)
    announced = await bob.directory.announced(alice.jid)
    assert sorted(key.fingerprint for key in announced) == sorted([alice.fingerprint, second])
    assert sorted(await bob.directory.fetch(alice.jid)) == sorted([alice.fingerprint, second])


async def test_round_trip_with_keys_discovered_through_pep(parties) -> None:
    alice, bob = await parties(2)
    await alice.envelope().publish_key()
    await bob.envelope().publish_key()
    sent = secret()
    element = await alice.envelope().seal(sent, alice.context_to(bob))
    opened = await bob.envelope().open(element, alice.context_to(bob))
    assert opened.secret == sent
    assert opened.sender_identity == f"OpenPGP key {alice.fingerprint} of {alice.jid}"


async def test_sealing_for_a_contact_without_announced_keys_is_refused(parties) -> None:
    alice, bob = await parties(2)
    with pytest.raises(EnvelopeError, match=f"{bob.jid} announces no OpenPGP key"):
        await alice.envelope().seal(secret(), alice.context_to(bob))


async def test_key_announced_for_another_jid_is_not_imported(parties) -> None:
    alice, bob, mallory = await parties(3)
    mallory.home.learn(alice.home, alice.fingerprint)
    await PepKeyDirectory(mallory.client, mallory.home.gpg).publish(alice.fingerprint)
    with pytest.raises(EnvelopeError, match=f"has no user id xmpp:{mallory.jid}"):
        await bob.directory.fetch(mallory.jid)
    assert bob.home.gpg.list_keys(keys=[alice.fingerprint]) == []


async def test_data_node_holding_a_different_key_is_skipped(parties) -> None:
    alice, bob = await parties(2)
    await alice.directory.publish(alice.fingerprint)
    decoy = alice.home.new_key(f"xmpp:{alice.jid}")
    pubkey = ET.Element(f"{{{NS}}}pubkey")
    ET.SubElement(pubkey, f"{{{NS}}}data").text = base64.b64encode(
        alice.home.public_key(alice.fingerprint)
    ).decode()
    await alice.client.plugin["xep_0060"].publish(None, public_key_node(decoy), payload=pubkey)
    listing = ET.Element(f"{{{NS}}}public-keys-list")
    for fingerprint in (alice.fingerprint, decoy):
        ET.SubElement(
            listing, f"{{{NS}}}pubkey-metadata", {"v4-fingerprint": fingerprint, "date": "x"}
        )
    await alice.client.plugin["xep_0060"].publish(None, PUBLIC_KEYS_NODE, payload=listing)

    assert await bob.directory.fetch(alice.jid) == (alice.fingerprint,)
    assert bob.home.gpg.list_keys(keys=[decoy]) == []


async def test_trust_callback_can_refuse_announced_keys(parties) -> None:
    alice, bob = await parties(2)
    await bob.envelope().publish_key()
    asked = []

    def refuse(jid: str, fingerprint: str) -> bool:
        asked.append((jid, fingerprint))
        return False

    with pytest.raises(EnvelopeError, match="announces is trusted"):
        await alice.envelope(trust=refuse).seal(secret(), alice.context_to(bob))
    assert asked == [(bob.jid, bob.fingerprint)]


async def test_async_trust_callback_can_accept(parties) -> None:
    alice, bob = await parties(2)
    await alice.envelope().publish_key()
    await bob.envelope().publish_key()

    async def accept(jid: str, fingerprint: str) -> bool:
        return (jid, fingerprint) == (alice.jid, alice.fingerprint)

    element = await alice.envelope().seal(secret(), alice.context_to(bob))
    opened = await bob.envelope(trust=accept).open(element, alice.context_to(bob))
    assert opened.sender_identity.startswith(f"OpenPGP key {alice.fingerprint}")


async def test_signer_not_announced_by_the_sender_is_refused(parties) -> None:
    alice, bob = await parties(2)
    await alice.envelope().publish_key()
    await bob.envelope().publish_key()
    unannounced = alice.home.new_key(f"xmpp:{alice.jid}")
    bob.home.learn(alice.home, unannounced)
    sealer = alice.envelope(fingerprint=unannounced)
    element = await sealer.seal(secret(), alice.context_to(bob))
    with pytest.raises(EnvelopeError, match=f"{unannounced}, which is not an accepted key"):
        await bob.envelope().open(element, alice.context_to(bob))
