"""JET-OMEMO envelopes between real slixmpp-omemo devices on the real Prosody."""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import os
from xml.etree import ElementTree as ET

import oldmemo.etree
import pytest
import pytest_asyncio

from slixmpp_jet.errors import EnvelopeError
from slixmpp_jet.jet import omemo_plugin
from slixmpp_jet.jet.envelope import EnvelopeContext, TransportSecret
from slixmpp_jet.jet.omemo import OmemoEnvelope
from slixmpp_jet.jet.omemo_plugin import LEGACY_NAMESPACE, OmemoPlugin, fingerprint
from slixmpp_jet.testing.clients import connect, disconnect, make_client

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]

NS = f"{{{LEGACY_NAMESPACE}}}"


def fresh_secret() -> TransportSecret:
    return TransportSecret(os.urandom(16), os.urandom(12))


def context(sender, recipient) -> EnvelopeContext:
    return EnvelopeContext(sid="s1", sender=f"{sender.jid}/jet", recipient=f"{recipient.jid}/jet")


@pytest_asyncio.fixture
async def omemo_client(prosody):
    """``await omemo_client(account, **config)``: connected, OMEMO initialised, closed after."""
    clients = []

    async def create(account, resource="jet", **config):
        client = make_client(prosody, account, resource)
        client.register_plugin("xep_0384", config, module=omemo_plugin)
        initialized = asyncio.get_running_loop().create_future()
        client.add_event_handler(
            "omemo_initialized", lambda _: initialized.done() or initialized.set_result(None)
        )
        clients.append(client)
        await connect(client, prosody)
        await asyncio.wait_for(initialized, 30)
        return client

    yield create
    for client in clients:
        await disconnect(client)


async def device_of(client) -> tuple[int, str]:
    """Device id and fingerprint of ``client``'s own OMEMO device."""
    manager = await client.plugin["xep_0384"].get_session_manager()
    own, _ = await manager.get_own_device_information()
    return own.device_id, fingerprint(own.identity_key)


async def raw_decrypt(client, element, sender):
    """Decrypt with the session manager directly: (plaintext, ratchet-decrypted key material)."""
    manager = await client.plugin["xep_0384"].get_session_manager()
    message = await oldmemo.etree.parse_message(element, sender.jid, client.boundjid.bare, manager)
    plaintext, _device, key_material = await manager.decrypt(message)
    return plaintext, key_material.key + key_material.auth_tag


def reparse(element: ET.Element) -> ET.Element:
    """The element as a peer receives it: serialised and parsed again."""
    return ET.fromstring(ET.tostring(element))


async def sealed(client, sender, recipient, secret=None) -> ET.Element:
    """An envelope sealed by ``client`` (of ``sender``) for ``recipient``, as received."""
    element = await OmemoEnvelope(client).seal(secret or fresh_secret(), context(sender, recipient))
    return reparse(element)


async def test_key_transport_element_opens_to_the_sealed_secret(accounts, omemo_client):
    alice, bob = accounts(2)
    alice_client, bob_client = await asyncio.gather(omemo_client(alice), omemo_client(bob))
    secret = fresh_secret()

    element = reparse(await OmemoEnvelope(alice_client).seal(secret, context(alice, bob)))

    assert element.tag == f"{NS}encrypted"
    assert element.find(f"{NS}payload") is None
    assert base64.b64decode(element.findtext(f"{NS}header/{NS}iv")) == secret.iv
    bob_device, bob_fingerprint = await device_of(bob_client)
    assert [key.get("rid") for key in element.iter(f"{NS}key")] == [str(bob_device)]
    opened = await OmemoEnvelope(bob_client).open(element, context(alice, bob))
    assert opened.secret == secret
    alice_device, alice_fingerprint = await device_of(alice_client)
    assert opened.sender_identity == (
        f"OMEMO device {alice_device} of {alice.jid} (fingerprint {alice_fingerprint})"
    )
    assert alice_fingerprint != bob_fingerprint

    with pytest.raises(EnvelopeError, match="cannot be opened"):
        await OmemoEnvelope(bob_client).open(element, context(alice, bob))  # a replay


async def test_each_key_carries_exactly_the_16_byte_transport_key(accounts, omemo_client):
    alice, bob = accounts(2)
    alice_client, bob_client = await asyncio.gather(omemo_client(alice), omemo_client(bob))
    envelope = OmemoEnvelope(alice_client)
    first, second = fresh_secret(), fresh_secret()

    for secret in (first, second):
        element = reparse(await envelope.seal(secret, context(alice, bob)))
        # Until alice hears back from bob, her keys carry the key exchange, marked as such.
        assert [key.get("prekey") for key in element.iter(f"{NS}key")] == ["true"]
        plaintext, key_material = await raw_decrypt(bob_client, element, alice)
        assert plaintext is None
        assert key_material == secret.key


async def test_our_other_device_gets_a_key_too(accounts, omemo_client):
    alice, bob = accounts(2)
    laptop, _ = await asyncio.gather(omemo_client(alice, "laptop"), omemo_client(bob))
    phone = await omemo_client(alice, "phone")  # not concurrently: both edit alice's device list
    phone_device, _ = await device_of(phone)
    await laptop.plugin["xep_0384"].refresh_device_lists({phone.boundjid}, force_download=True)
    manager = await laptop.plugin["xep_0384"].get_session_manager()
    await manager.refresh_device_list(LEGACY_NAMESPACE, alice.jid)
    secret = fresh_secret()

    element = reparse(await OmemoEnvelope(laptop).seal(secret, context(alice, bob)))

    assert str(phone_device) in {key.get("rid") for key in element.iter(f"{NS}key")}
    opened = await OmemoEnvelope(phone).open(element, context(alice, bob))
    assert opened.secret == secret


async def test_an_envelope_from_someone_else_is_refused(accounts, omemo_client):
    alice, bob, carol = accounts(3)
    alice_client, bob_client, carol_client = await asyncio.gather(
        omemo_client(alice), omemo_client(bob), omemo_client(carol)
    )
    bob_envelope = OmemoEnvelope(bob_client)
    from_alice = await sealed(alice_client, alice, bob)
    from_carol = await sealed(carol_client, carol, bob)

    with pytest.raises(EnvelopeError, match=f"not sealed by {alice.jid}"):
        await bob_envelope.open(from_carol, context(alice, bob))
    with pytest.raises(EnvelopeError, match=f"not sealed by {carol.jid}"):
        await bob_envelope.open(from_alice, context(carol, bob))

    # Both are fine when presented as from whoever really sealed them.
    assert (await bob_envelope.open(from_alice, context(alice, bob))).sender_identity.endswith(
        f"of {alice.jid} (fingerprint {(await device_of(alice_client))[1]})"
    )
    await bob_envelope.open(from_carol, context(carol, bob))


async def test_a_tampered_key_is_refused(accounts, omemo_client):
    alice, bob = accounts(2)
    alice_client, bob_client = await asyncio.gather(omemo_client(alice), omemo_client(bob))
    secret = fresh_secret()
    element = reparse(await OmemoEnvelope(alice_client).seal(secret, context(alice, bob)))
    tampered = copy.deepcopy(element)
    key = tampered.find(f"{NS}header/{NS}key")
    raw = bytearray(base64.b64decode(key.text))
    raw[-1] ^= 0x01
    key.text = base64.b64encode(bytes(raw)).decode()

    with pytest.raises(EnvelopeError, match=f"from {alice.jid} cannot be opened"):
        await OmemoEnvelope(bob_client).open(tampered, context(alice, bob))
    assert (await OmemoEnvelope(bob_client).open(element, context(alice, bob))).secret == secret


async def test_an_envelope_for_another_device_is_refused(accounts, omemo_client):
    alice, bob, carol = accounts(3)
    alice_client, _, carol_client = await asyncio.gather(
        omemo_client(alice), omemo_client(bob), omemo_client(carol)
    )
    for_bob = await sealed(alice_client, alice, bob)

    with pytest.raises(EnvelopeError, match="not encrypted for this device"):
        await OmemoEnvelope(carol_client).open(for_bob, context(alice, carol))


async def test_sealing_for_a_peer_without_omemo_fails(accounts, omemo_client, client_factory):
    alice, bob = accounts(2)
    alice_client = await omemo_client(alice)
    await client_factory(bob)

    with pytest.raises(EnvelopeError, match=f"{bob.jid} has no trusted legacy-OMEMO"):
        await OmemoEnvelope(alice_client).seal(fresh_secret(), context(alice, bob))


async def test_sealing_without_the_omemo_plugin_fails(accounts, client_factory):
    alice, bob = accounts(2)
    alice_client = await client_factory(alice)

    with pytest.raises(EnvelopeError, match="OMEMO is not loaded"):
        await OmemoEnvelope(alice_client).seal(fresh_secret(), context(alice, bob))


async def test_manual_trust_seals_only_for_devices_trusted_by_hand(accounts, omemo_client):
    alice, bob = accounts(2)
    alice_client, bob_client = await asyncio.gather(
        omemo_client(alice, trust="manual"), omemo_client(bob)
    )
    envelope = OmemoEnvelope(alice_client)

    with pytest.raises(EnvelopeError, match=f"{bob.jid} has no trusted"):
        await envelope.seal(fresh_secret(), context(alice, bob))

    bob_device, _ = await device_of(bob_client)
    await alice_client.plugin["xep_0384"].trust_device(bob.jid, bob_device)
    secret = fresh_secret()
    element = await envelope.seal(secret, context(alice, bob))
    assert (await OmemoEnvelope(bob_client).open(element, context(alice, bob))).secret == secret


async def test_manual_trust_asks_the_callback_with_the_fingerprint(accounts, omemo_client):
    alice, bob = accounts(2)
    bob_client = await omemo_client(bob)
    bob_device, bob_fingerprint = await device_of(bob_client)
    asked = []

    def trust_bob(bare_jid, device_id, device_fingerprint):
        asked.append((bare_jid, device_id, device_fingerprint))
        return device_fingerprint == bob_fingerprint

    alice_client = await omemo_client(alice, trust="manual", trust_callback=trust_bob)
    secret = fresh_secret()
    element = await OmemoEnvelope(alice_client).seal(secret, context(alice, bob))

    assert asked == [(bob.jid, bob_device, bob_fingerprint)]
    assert (await OmemoEnvelope(bob_client).open(element, context(alice, bob))).secret == secret


async def test_manual_trust_refuses_envelopes_from_untrusted_devices(accounts, omemo_client):
    alice, bob = accounts(2)
    alice_client, bob_client = await asyncio.gather(
        omemo_client(alice), omemo_client(bob, trust="manual")
    )
    element = await OmemoEnvelope(alice_client).seal(fresh_secret(), context(alice, bob))

    alice_device, alice_fingerprint = await device_of(alice_client)
    refusal = rf"OMEMO device {alice_device} of {alice.jid} \(fingerprint {alice_fingerprint}\)"
    with pytest.raises(EnvelopeError, match=refusal + " is not trusted"):
        await OmemoEnvelope(bob_client).open(element, context(alice, bob))

    await bob_client.plugin["xep_0384"].trust_device(alice.jid, alice_device)
    secret = fresh_secret()
    element = await OmemoEnvelope(alice_client).seal(secret, context(alice, bob))
    assert (await OmemoEnvelope(bob_client).open(element, context(alice, bob))).secret == secret


async def test_payload_form_round_trips(accounts, omemo_client):
    alice, bob = accounts(2)
    alice_client, bob_client = await asyncio.gather(omemo_client(alice), omemo_client(bob))
    envelope = OmemoEnvelope(alice_client)
    envelope.use_payload_form(f"{bob.jid}/anything")
    first, second = fresh_secret(), fresh_secret()

    element = reparse(await envelope.seal(first, context(alice, bob)))
    assert element.find(f"{NS}payload") is not None
    assert base64.b64decode(element.findtext(f"{NS}header/{NS}iv")) == first.iv
    assert (await OmemoEnvelope(bob_client).open(element, context(alice, bob))).secret == first

    element = reparse(await envelope.seal(second, context(alice, bob)))
    plaintext, key_material = await raw_decrypt(bob_client, element, alice)
    assert plaintext == b" "
    assert key_material[:16] == second.key and len(key_material) == 32

    envelope.use_payload_form(bob.jid, enabled=False)
    element = await envelope.seal(fresh_secret(), context(alice, bob))
    assert element.find(f"{NS}payload") is None


async def test_lenient_receiving_of_other_clients_forms(accounts, omemo_client, caplog):
    caplog.set_level(logging.DEBUG)
    alice, bob = accounts(2)
    alice_client, bob_client = await asyncio.gather(omemo_client(alice), omemo_client(bob))
    alice_omemo = alice_client.plugin["xep_0384"]
    manager = await alice_omemo.get_session_manager()
    await alice_omemo.refresh_device_lists({bob_client.boundjid}, force_download=True)
    bob_envelope = OmemoEnvelope(bob_client)

    async def sealed_by_python_omemo(plaintext):
        messages, _ = await manager.encrypt(
            frozenset({bob.jid}), {LEGACY_NAMESPACE: plaintext},
            backend_priority_order=[LEGACY_NAMESPACE],
        )
        ((message, key_material),) = messages.items()
        return reparse(oldmemo.etree.serialize_message(message)), message, key_material

    # Smack: an ordinary message whose body is Base64 of TK||IV (AES-128 and AES-256).
    for key_size in (16, 32):
        smack_secret = TransportSecret(os.urandom(key_size), os.urandom(12))
        body = base64.b64encode(smack_secret.key + smack_secret.iv)
        element, _, _ = await sealed_by_python_omemo(body)
        opened = await bob_envelope.open(element, context(alice, bob))
        assert opened.secret == smack_secret
        assert body.decode() not in caplog.text  # python-omemo would log the decrypted body
        assert caplog.text  # ...and it does log at DEBUG otherwise

    # Stock python-omemo key transport: key||empty-tag is 32 bytes, the IV is in the header.
    element, message, key_material = await sealed_by_python_omemo(b"")
    assert element.find(f"{NS}payload") is None
    opened = await bob_envelope.open(element, context(alice, bob))
    assert opened.secret == TransportSecret(
        key_material.key, message.content.initialization_vector
    )

    # Dino 0.1.x and old Conversations: a 16-byte IV.
    old_secret = TransportSecret(os.urandom(16), os.urandom(16))
    messages, _ = await alice_omemo.encrypt_with_key(bob.jid, b"", old_secret.key, old_secret.iv)
    element = reparse(oldmemo.etree.serialize_message(next(iter(messages))))
    assert (await bob_envelope.open(element, context(alice, bob))).secret == old_secret


async def test_identity_persists_in_the_storage_file(accounts, omemo_client, tmp_path):
    (alice,) = accounts(1)
    path = tmp_path / "alice-omemo.json"
    first = await omemo_client(alice, "one", storage_path=str(path))
    first_device = await device_of(first)
    await disconnect(first)

    assert path.stat().st_mode & 0o777 == 0o600
    second = await omemo_client(alice, "two", storage_path=str(path))
    assert await device_of(second) == first_device
    assert isinstance(second.plugin["xep_0384"], OmemoPlugin)
