"""The OpenPGP envelope against real gpg, with pinned keys (no server needed).

Every refused envelope is a real OpenPGP message built with gpg directly.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import pytest
import slixmpp
from gpg_helpers import GpgHome, gpg_homes

from slixmpp_jet.errors import EnvelopeError, Reason
from slixmpp_jet.jet.envelope import EnvelopeContext, TransportSecret
from slixmpp_jet.jet.openpgp import OpenPGPEnvelope

pytestmark = pytest.mark.asyncio

ALICE = "alice@localhost"
BOB = "bob@localhost"
MALLORY = "mallory@localhost"
NS = "urn:xmpp:openpgp:0"
CONTEXT = EnvelopeContext(sid="sid-1", sender=f"{ALICE}/desk", recipient=f"{BOB}/phone")


@dataclass
class Party:
    jid: str
    home: GpgHome
    fingerprint: str

    def envelope(self, pinned: dict[str, list[str]], **options: object) -> OpenPGPEnvelope:
        client = slixmpp.ClientXMPP(f"{self.jid}/jet", "unused")
        return OpenPGPEnvelope(
            client, self.home.path, pinned=pinned, fetch_from_pep=False, **options
        )


@dataclass
class World:
    alice: Party
    bob: Party
    mallory: Party

    def bob_pinning(self, alice_keys: list[str]) -> OpenPGPEnvelope:
        return self.bob.envelope({ALICE: alice_keys, MALLORY: [self.mallory.fingerprint]})


@pytest.fixture
def homes() -> Iterator[Callable[[], GpgHome]]:
    with gpg_homes() as make:
        yield make


@pytest.fixture
def world(homes) -> World:
    parties = []
    for jid in (ALICE, BOB, MALLORY):
        home = homes()
        parties.append(Party(jid, home, home.new_key(f"xmpp:{jid}")))
    alice, bob, mallory = parties
    alice.home.learn(bob.home, bob.fingerprint)
    mallory.home.learn(bob.home, bob.fingerprint)
    bob.home.learn(alice.home, alice.fingerprint)
    bob.home.learn(mallory.home, mallory.fingerprint)
    return World(alice, bob, mallory)


def fresh_secret(key_size: int = 32) -> TransportSecret:
    return TransportSecret(os.urandom(key_size), os.urandom(12))


def stamp(offset: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + offset).strftime("%Y-%m-%dT%H:%M:%SZ")


def signcrypt(
    *,
    to: str = BOB,
    when: str | None = None,
    sid: str = CONTEXT.sid,
    key: bytes = b"k" * 32,
    iv: bytes = b"i" * 12,
    root: str = "signcrypt",
) -> str:
    """A signcrypt plaintext written by hand, so that each field can be made wrong."""
    return (
        f"<{root} xmlns='{NS}'><to jid='{to}'/><time stamp='{when or stamp()}'/>"
        "<rpad>xyz</rpad><payload>"
        f"<secret xmlns='urn:xmpp:jingle:jet-openpgp:0' sid='{sid}'>"
        f"<key>{base64.b64encode(key).decode()}</key><iv>{base64.b64encode(iv).decode()}</iv>"
        f"</secret></payload></{root}>"
    )


def openpgp(message: bytes) -> ET.Element:
    element = ET.Element(f"{{{NS}}}openpgp")
    element.text = base64.b64encode(message).decode()
    return element


async def refused(envelope: OpenPGPEnvelope, element: ET.Element, context=CONTEXT) -> str:
    with pytest.raises(EnvelopeError) as caught:
        await envelope.open(element, context)
    assert caught.value.reason is Reason.SECURITY_ERROR
    return str(caught.value)


async def test_round_trip_with_pinned_keys(world) -> None:
    alice = world.alice.envelope({BOB: [world.bob.fingerprint]})
    secret = fresh_secret()
    element = await alice.seal(secret, CONTEXT)
    opened = await world.bob_pinning([world.alice.fingerprint]).open(element, CONTEXT)
    assert opened.secret == secret
    assert opened.sender_identity == f"OpenPGP key {world.alice.fingerprint} of {ALICE}"


async def test_aes_128_sized_secret_round_trips(world) -> None:
    alice = world.alice.envelope({BOB: [world.bob.fingerprint]})
    secret = fresh_secret(16)
    element = await alice.seal(secret, CONTEXT)
    opened = await world.bob_pinning([world.alice.fingerprint]).open(element, CONTEXT)
    assert opened.secret == secret


async def test_sealed_element_is_binary_signcrypt_to_peer_and_self(world) -> None:
    alice = world.alice.envelope({BOB: [world.bob.fingerprint]})
    element = await alice.seal(fresh_secret(), CONTEXT)
    assert element.tag == f"{{{NS}}}openpgp"
    message = base64.b64decode(element.text, validate=True)
    assert message[0] & 0x80, "an OpenPGP packet, not ASCII armor"
    for reader in (world.bob.home, world.alice.home):
        result = reader.gpg.decrypt(message)
        assert result.ok and result.valid
        assert result.pubkey_fingerprint == world.alice.fingerprint
        plain = ET.fromstring(result.data)
        assert plain.tag == f"{{{NS}}}signcrypt"
        assert [to.get("jid") for to in plain.findall(f"{{{NS}}}to")] == [BOB]
        assert plain.find(f"{{{NS}}}rpad").text
        sealed_at = datetime.fromisoformat(plain.find(f"{{{NS}}}time").get("stamp"))
        assert abs(datetime.now(UTC) - sealed_at) < timedelta(minutes=1)
        carrier = plain.find(f"{{{NS}}}payload/{{urn:xmpp:jingle:jet-openpgp:0}}secret")
        assert carrier.get("sid") == CONTEXT.sid
    assert world.mallory.home.gpg.decrypt(message).status == "no secret key"


async def test_fresh_padding_and_ciphertext_each_time(world) -> None:
    alice = world.alice.envelope({BOB: [world.bob.fingerprint]})
    secret = fresh_secret()
    first = await alice.seal(secret, CONTEXT)
    second = await alice.seal(secret, CONTEXT)
    assert first.text != second.text


async def test_seal_without_a_key_for_the_peer_is_refused(world) -> None:
    alice = world.alice.envelope({})
    with pytest.raises(EnvelopeError, match="no OpenPGP key is pinned for bob@localhost"):
        await alice.seal(fresh_secret(), CONTEXT)


async def test_seal_to_a_pinned_key_missing_from_the_keyring_is_refused(world) -> None:
    alice = world.alice.envelope({BOB: [world.mallory.fingerprint]})
    with pytest.raises(EnvelopeError, match=f"{world.mallory.fingerprint} of bob@localhost"):
        await alice.seal(fresh_secret(), CONTEXT)


async def test_own_key_is_found_by_its_xmpp_user_id(world) -> None:
    alice = world.alice.envelope({})
    assert await alice.own_fingerprint() == world.alice.fingerprint


async def test_ambiguous_own_key_must_be_chosen(world) -> None:
    second = world.alice.home.new_key(f"xmpp:{ALICE}")
    with pytest.raises(EnvelopeError, match="exactly one secret key"):
        await world.alice.envelope({}).own_fingerprint()
    chosen = world.alice.envelope({}, fingerprint=second)
    assert await chosen.own_fingerprint() == second


async def test_own_key_without_our_user_id_is_refused(world, homes) -> None:
    stranger = homes()
    fingerprint = stranger.new_key("Alice <alice@example.org>")
    party = Party(ALICE, stranger, fingerprint)
    with pytest.raises(EnvelopeError, match="need exactly one secret key"):
        await party.envelope({}).own_fingerprint()
    with pytest.raises(EnvelopeError, match="has no user id xmpp:alice@localhost"):
        await party.envelope({}, fingerprint=fingerprint).own_fingerprint()


async def test_unsigned_message_is_refused(world) -> None:
    message = world.alice.home.encrypt(signcrypt(), [world.bob.fingerprint], sign=None)
    reason = await refused(world.bob_pinning([world.alice.fingerprint]), openpgp(message))
    assert "not signed" in reason


async def test_signed_but_not_encrypted_is_refused(world) -> None:
    signed = world.alice.home.gpg.sign(
        signcrypt().encode(), keyid=world.alice.fingerprint, binary=True
    )
    reason = await refused(world.bob_pinning([world.alice.fingerprint]), openpgp(signed.data))
    assert "not an encrypted OpenPGP message (signature valid)" in reason


async def test_signed_by_a_key_of_another_jid_is_refused(world) -> None:
    message = world.mallory.home.encrypt(
        signcrypt(), [world.bob.fingerprint], sign=world.mallory.fingerprint
    )
    reason = await refused(world.bob_pinning([world.alice.fingerprint]), openpgp(message))
    assert f"{world.mallory.fingerprint}, which is not an accepted key of {ALICE}" in reason


async def test_signer_unknown_to_us_is_refused(world, homes) -> None:
    eve = homes()
    eve_key = eve.new_key(f"xmpp:{ALICE}")
    eve.learn(world.bob.home, world.bob.fingerprint)
    message = eve.encrypt(signcrypt(), [world.bob.fingerprint], sign=eve_key)
    reason = await refused(world.bob_pinning([world.alice.fingerprint]), openpgp(message))
    assert "signature does not verify (no public key" in reason


async def test_pinned_signer_without_the_sender_user_id_is_refused(world) -> None:
    message = world.mallory.home.encrypt(
        signcrypt(), [world.bob.fingerprint], sign=world.mallory.fingerprint
    )
    bob = world.bob_pinning([world.mallory.fingerprint])
    reason = await refused(bob, openpgp(message))
    assert f"signing key {world.mallory.fingerprint} has no user id xmpp:{ALICE}" in reason


async def test_secret_addressed_to_someone_else_is_refused(world) -> None:
    message = world.alice.home.encrypt(
        signcrypt(to=MALLORY), [world.bob.fingerprint], sign=world.alice.fingerprint
    )
    reason = await refused(world.bob_pinning([world.alice.fingerprint]), openpgp(message))
    assert f"addressed to ['{MALLORY}'], not to {BOB}" in reason


@pytest.mark.parametrize(
    ("offset", "complaint"),
    [(timedelta(minutes=-6), "too old"), (timedelta(minutes=6), "too far in the future")],
)
async def test_time_outside_the_window_is_refused(world, offset, complaint) -> None:
    message = world.alice.home.encrypt(
        signcrypt(when=stamp(offset)), [world.bob.fingerprint], sign=world.alice.fingerprint
    )
    reason = await refused(world.bob_pinning([world.alice.fingerprint]), openpgp(message))
    assert complaint in reason


async def test_wider_window_accepts_an_older_time(world) -> None:
    message = world.alice.home.encrypt(
        signcrypt(when=stamp(timedelta(minutes=-30))),
        [world.bob.fingerprint],
        sign=world.alice.fingerprint,
    )
    bob = world.bob.envelope({ALICE: [world.alice.fingerprint]}, time_window=timedelta(hours=1))
    opened = await bob.open(openpgp(message), CONTEXT)
    assert opened.secret == TransportSecret(b"k" * 32, b"i" * 12)


@pytest.mark.parametrize("when", ["yesterday", "2024-05-01T12:00:00"])
async def test_unreadable_time_is_refused(world, when) -> None:
    message = world.alice.home.encrypt(
        signcrypt(when=when), [world.bob.fingerprint], sign=world.alice.fingerprint
    )
    reason = await refused(world.bob_pinning([world.alice.fingerprint]), openpgp(message))
    assert "time stamp" in reason


async def test_replay_into_another_session_is_refused(world) -> None:
    alice = world.alice.envelope({BOB: [world.bob.fingerprint]})
    element = await alice.seal(fresh_secret(), CONTEXT)
    other_session = EnvelopeContext("sid-2", CONTEXT.sender, CONTEXT.recipient)
    reason = await refused(world.bob_pinning([world.alice.fingerprint]), element, other_session)
    assert "session 'sid-1', not 'sid-2'" in reason


async def test_garbage_base64_is_refused(world) -> None:
    element = ET.Element(f"{{{NS}}}openpgp")
    element.text = "this is *not* base64!"
    reason = await refused(world.bob_pinning([world.alice.fingerprint]), element)
    assert "not valid base64" in reason


async def test_base64_of_garbage_is_refused(world) -> None:
    reason = await refused(world.bob_pinning([world.alice.fingerprint]), openpgp(b"\x00junk"))
    assert "not an encrypted OpenPGP message" in reason


async def test_message_not_encrypted_to_us_is_refused(world) -> None:
    message = world.alice.home.encrypt(
        signcrypt(), [world.alice.fingerprint], sign=world.alice.fingerprint
    )
    reason = await refused(world.bob_pinning([world.alice.fingerprint]), openpgp(message))
    assert "not encrypted to any of our OpenPGP keys" in reason


async def test_tampered_message_is_refused(world) -> None:
    alice = world.alice.envelope({BOB: [world.bob.fingerprint]})
    message = bytearray(base64.b64decode((await alice.seal(fresh_secret(), CONTEXT)).text))
    message[-5] ^= 0x01
    reason = await refused(world.bob_pinning([world.alice.fingerprint]), openpgp(bytes(message)))
    assert "could not decrypt the envelope (decryption failed): it was damaged" in reason


@pytest.mark.parametrize(
    ("build", "complaint"),
    [
        (lambda: signcrypt(root="crypt"), "not <signcrypt/>"),
        (lambda: "not xml at all", "not XML"),
        (lambda: signcrypt(key=b"short"), "key is 5 bytes"),
        (lambda: signcrypt(iv=b"i" * 16), "IV 16 bytes"),
        (
            lambda: signcrypt().replace("<payload>", "<payload/><payload>"),
            "exactly one <payload/>",
        ),
    ],
    ids=["root", "not-xml", "key", "iv", "two-payloads"],
)
async def test_malformed_signcrypt_is_refused(world, build, complaint) -> None:
    # Built here, not at collection: the envelope's timestamp must be fresh when it is opened.
    message = world.alice.home.encrypt(
        build(), [world.bob.fingerprint], sign=world.alice.fingerprint
    )
    reason = await refused(world.bob_pinning([world.alice.fingerprint]), openpgp(message))
    assert complaint in reason


async def test_wrong_element_is_refused(world) -> None:
    element = ET.Element("{urn:xmpp:omemo:2}encrypted")
    reason = await refused(world.bob_pinning([world.alice.fingerprint]), element)
    assert "expected <openpgp" in reason


async def test_bad_pinned_fingerprint_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="not an OpenPGP v4 fingerprint"):
        OpenPGPEnvelope(slixmpp.ClientXMPP(f"{ALICE}/x", "pw"), "/tmp", pinned={BOB: ["ABCD"]})


async def test_missing_home_is_reported(tmp_path) -> None:
    envelope = OpenPGPEnvelope(slixmpp.ClientXMPP(f"{ALICE}/x", "pw"), tmp_path / "absent")
    with pytest.raises(EnvelopeError, match="cannot use GNUPGHOME"):
        await envelope.own_fingerprint()
