"""JET-OMEMO pieces that need no server: header parsing, lenient secret forms, the key-transport
backend, the storage file, plugin configuration."""

from __future__ import annotations

import base64
import json
import os
from xml.etree import ElementTree as ET

import pytest
import slixmpp
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from slixmpp_jet.errors import EnvelopeError
from slixmpp_jet.jet import omemo_plugin
from slixmpp_jet.jet.envelope import EnvelopeContext, TransportSecret
from slixmpp_jet.jet.omemo import OmemoEnvelope, read_header, transport_secret
from slixmpp_jet.jet.omemo_plugin import (
    JsonStorage,
    KeyTransportOldmemo,
    OmemoPlugin,
    TrustMode,
    chosen_key,
    fingerprint,
)

KEY = bytes(range(16))
IV = bytes(range(100, 112))
B64_IV = base64.b64encode(IV).decode()

# XEP-0396 §4's example envelope, with Base64 stand-ins for the ratchet messages.
XEP_0396_EXAMPLE = f"""
<security xmlns='urn:xmpp:jingle:jet:0' name='a-file-offer'
          cipher='urn:xmpp:ciphers:aes-128-gcm-nopadding'
          type='eu.siacs.conversations.axolotl'>
  <encrypted xmlns='eu.siacs.conversations.axolotl'>
    <header sid='27183'>
      <key rid='31415'>U2lnbmFsTWVzc2FnZQ==</key>
      <key prekey='true' rid='12321'>UHJlS2V5U2lnbmFsTWVzc2FnZQ==</key>
      <iv>{B64_IV}</iv>
    </header>
  </encrypted>
</security>
"""


def envelope_with(header_inner: str, sid: str = "27183") -> ET.Element:
    return ET.fromstring(
        "<encrypted xmlns='eu.siacs.conversations.axolotl'>"
        f"<header sid='{sid}'>{header_inner}</header></encrypted>"
    )


def test_reads_the_xep_0396_example():
    security = ET.fromstring(XEP_0396_EXAMPLE)
    encrypted = security.find("{eu.siacs.conversations.axolotl}encrypted")

    header = read_header(encrypted)

    assert header.sender_device == 27183
    assert header.recipient_devices == {31415, 12321}
    assert header.iv == IV


@pytest.mark.parametrize("iv_size", [12, 16])
def test_accepts_12_and_16_byte_ivs(iv_size):
    iv = os.urandom(iv_size)
    element = envelope_with(f"<key rid='1'>AA==</key><iv>{base64.b64encode(iv).decode()}</iv>")
    assert read_header(element).iv == iv


@pytest.mark.parametrize(
    ("element", "message"),
    [
        (ET.fromstring("<encrypted xmlns='urn:xmpp:omemo:2'/>"), "expected <encrypted"),
        (ET.fromstring("<encrypted xmlns='eu.siacs.conversations.axolotl'/>"), "no <header>"),
        (envelope_with("<key rid='1'>AA==</key>"), "no <iv>"),
        (envelope_with("<key rid='1'>AA==</key><iv>not base64!</iv>"), "not Base64"),
        (envelope_with(f"<key rid='1'>AA==</key><iv>{base64.b64encode(b'x' * 8).decode()}</iv>"),
         "8 bytes, not 12 or 16"),
        (envelope_with(f"<key rid='one'>AA==</key><iv>{B64_IV}</iv>"), "non-numeric device id"),
        (envelope_with(f"<key rid='1'>AA==</key><iv>{B64_IV}</iv>", sid=""), "device id"),
    ],
)
def test_malformed_headers_are_refused(element, message):
    with pytest.raises(EnvelopeError, match=message):
        read_header(element)


def test_key_transport_key_material_is_the_transport_key():
    assert transport_secret(None, KEY, IV) == TransportSecret(KEY, IV)


def test_32_byte_key_material_is_key_and_tag():
    assert transport_secret(None, KEY + os.urandom(16), IV) == TransportSecret(KEY, IV)


@pytest.mark.parametrize("size", [0, 15, 17, 31, 33])
def test_other_key_material_sizes_are_refused(size):
    with pytest.raises(EnvelopeError, match=f"{size} bytes"):
        transport_secret(None, os.urandom(size), IV)


def test_libervia_payload_form_uses_the_message_key_and_header_iv():
    assert transport_secret(b" ", KEY + os.urandom(16), IV) == TransportSecret(KEY, IV)


@pytest.mark.parametrize("key_size", [16, 32])
def test_smack_payload_is_base64_of_key_and_iv(key_size):
    smack_key, smack_iv = os.urandom(key_size), os.urandom(12)
    payload = base64.b64encode(smack_key + smack_iv) + b"\n"

    secret = transport_secret(payload, KEY + os.urandom(16), IV)

    assert secret == TransportSecret(smack_key, smack_iv)


def test_base64_payload_of_another_length_is_not_taken_for_smack():
    payload = base64.b64encode(os.urandom(20))
    assert transport_secret(payload, KEY, IV) == TransportSecret(KEY, IV)


@pytest.mark.asyncio
async def test_backend_carries_the_chosen_key_and_iv_in_an_empty_message():
    backend = KeyTransportOldmemo(JsonStorage(None))

    with chosen_key(KEY, IV):
        content, key_material = await backend.encrypt_plaintext(b"")

    assert content.empty
    assert content.initialization_vector == IV
    assert (key_material.key, key_material.auth_tag) == (KEY, b"")


@pytest.mark.asyncio
async def test_backend_encrypts_a_payload_under_the_chosen_key_and_iv():
    backend = KeyTransportOldmemo(JsonStorage(None))

    with chosen_key(KEY, IV):
        content, key_material = await backend.encrypt_plaintext(b" ")

    assert content.initialization_vector == IV and key_material.key == KEY
    sealed = content.ciphertext + key_material.auth_tag
    assert AESGCM(KEY).decrypt(IV, sealed, None) == b" "


@pytest.mark.asyncio
async def test_backend_draws_fresh_keys_outside_chosen_key():
    backend = KeyTransportOldmemo(JsonStorage(None))
    with chosen_key(KEY, IV):
        pass

    content, key_material = await backend.encrypt_plaintext(b"hello")

    assert key_material.key != KEY and content.initialization_vector != IV
    assert len(key_material.key) == 16 and len(content.initialization_vector) == 12


@pytest.mark.asyncio
async def test_json_storage_persists_privately(tmp_path):
    path = tmp_path / "omemo.json"
    storage = JsonStorage(path)
    await storage.store("/identity", "secret")
    await storage.store("/gone", 1)
    await storage.delete("/gone")

    assert path.stat().st_mode & 0o777 == 0o600
    reopened = JsonStorage(path)
    assert (await reopened.load("/identity")).maybe(None) == "secret"
    assert (await reopened.load("/gone")).is_nothing
    assert json.loads(path.read_text()) == {"/identity": "secret"}


def test_json_storage_in_memory_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    JsonStorage(None)._save()
    assert list(tmp_path.iterdir()) == []


def test_unreadable_storage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "omemo.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=f"OMEMO storage {path} cannot be read"):
        JsonStorage(path)


def test_fingerprint_is_eight_groups_of_eight_hex_digits():
    identity_key = bytes.fromhex(
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    groups = fingerprint(identity_key).split(" ")
    assert len(groups) == 8
    assert all(len(group) == 8 and int(group, 16) >= 0 for group in groups)


def offline_client(**config) -> slixmpp.ClientXMPP:
    """A client that never connects, with the plugin registered (call inside the test's loop)."""
    client = slixmpp.ClientXMPP("alice@localhost/jet", "password")
    client.register_plugin("xep_0384", config, module=omemo_plugin)
    return client


@pytest.mark.asyncio
async def test_plugin_defaults_to_blind_trust():
    plugin = offline_client().plugin["xep_0384"]
    assert isinstance(plugin, OmemoPlugin)
    assert plugin.trust_mode is TrustMode.BLIND


@pytest.mark.asyncio
async def test_plugin_accepts_manual_trust():
    assert offline_client(trust="manual").plugin["xep_0384"].trust_mode is TrustMode.MANUAL


@pytest.mark.asyncio
async def test_plugin_refuses_an_unknown_trust_policy():
    with pytest.raises(ValueError, match="trust must be 'blind' or 'manual', not 'maybe'"):
        offline_client(trust="maybe")


def test_envelope_names_its_method():
    assert OmemoEnvelope.name == "omemo"
    assert OmemoEnvelope.type == "eu.siacs.conversations.axolotl"
    assert OmemoEnvelope.feature == "urn:xmpp:jingle:jet-omemo:0"
    assert OmemoEnvelope.ciphers == ("urn:xmpp:ciphers:aes-128-gcm-nopadding",)


CONTEXT = EnvelopeContext(sid="s1", sender="alice@localhost/jet", recipient="bob@localhost/jet")


@pytest.mark.asyncio
@pytest.mark.parametrize(("key_size", "iv_size"), [(32, 12), (16, 16), (16, 8)])
async def test_seal_refuses_secrets_other_than_aes_128_gcm(key_size, iv_size):
    secret = TransportSecret(os.urandom(key_size), os.urandom(iv_size))
    with pytest.raises(EnvelopeError, match="AES-128-GCM only"):
        await OmemoEnvelope(offline_client()).seal(secret, CONTEXT)


@pytest.mark.asyncio
async def test_envelope_needs_the_omemo_plugin():
    client = slixmpp.ClientXMPP("alice@localhost/jet", "password")
    with pytest.raises(EnvelopeError, match="OMEMO is not loaded"):
        await OmemoEnvelope(client).seal(TransportSecret(KEY, IV), CONTEXT)
    with pytest.raises(EnvelopeError, match="OMEMO is not loaded"):
        await OmemoEnvelope(client).open(ET.fromstring(XEP_0396_EXAMPLE)[0], CONTEXT)
