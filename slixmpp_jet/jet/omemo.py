"""JET-OMEMO (XEP-0396): the transport secret inside a legacy-OMEMO KeyTransportElement.

Sending: ``<encrypted xmlns='eu.siacs.conversations.axolotl'>`` whose ``<key>`` elements each carry
exactly the 16-byte TK for one device of the recipient (and our own other devices), whose header
``<iv>`` is the 12-byte IV, and which has no ``<payload>``: what Dino and Conversations send and
read. For peers marked with :meth:`OmemoEnvelope.use_payload_form` (Libervia) it sends an ordinary
OMEMO message instead, encrypting one space under TK and IV, with key‖tag in each ``<key>``.

Receiving is lenient (peers.md §4): key material of 16 bytes, or 32 (key‖tag, first 16 are TK);
a 12- or 16-byte IV; Libervia's message form (TK = message key, IV = header IV) and Smack's (the
payload is Base64 of TK‖IV). The IV is read from the XML header here, because oldmemo's parser
replaces it with a random one when there is no ``<payload>``.

Needs :class:`~slixmpp_jet.jet.omemo_plugin.OmemoPlugin` loaded as ``xep_0384``. python-omemo also
sends *empty* OMEMO messages on its own (as ``<message>`` stanzas, to complete or heal sessions);
they look like key transport elements but never appear inside ``<security/>``.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, cast
from xml.etree import ElementTree as ET

import oldmemo.etree
from oldmemo.oldmemo import PlainKeyMaterialImpl
from omemo import DeviceInformation, NoEligibleDevices, SenderNotFound
from slixmpp import JID
from slixmpp.basexmpp import BaseXMPP

from ..errors import EnvelopeError
from .envelope import Envelope, EnvelopeContext, OpenedSecret, TransportSecret
from .omemo_plugin import LEGACY_NAMESPACE, OmemoPlugin, fingerprint

log = logging.getLogger(__name__)

TK_SIZE = 16
IV_SIZE = 12
ACCEPTED_IV_SIZES = (12, 16)
"""12 bytes today; 16 from Dino 0.1.x and old Conversations."""
SMACK_KEY_SIZES = {16 + 12: 16, 32 + 12: 32}
"""Length of Smack's decoded TK‖IV → length of its TK (AES-128 or AES-256)."""
PAYLOAD_FORM_PLAINTEXT = b" "
"""What the message form encrypts, as Libervia does."""

_ENCRYPTED = f"{{{LEGACY_NAMESPACE}}}encrypted"
_HEADER = f"{{{LEGACY_NAMESPACE}}}header"
_KEY = f"{{{LEGACY_NAMESPACE}}}key"
_IV = f"{{{LEGACY_NAMESPACE}}}iv"


@dataclass(frozen=True)
class EnvelopeHeader:
    """What the receiver reads from the ``<header>`` itself."""

    sender_device: int
    recipient_devices: frozenset[int]
    iv: bytes


def read_header(element: ET.Element) -> EnvelopeHeader:
    """Sender device, recipient devices and IV of a legacy-OMEMO ``<encrypted>`` element."""
    if element.tag != _ENCRYPTED:
        raise EnvelopeError(f"expected <encrypted xmlns='{LEGACY_NAMESPACE}'>, got {element.tag}")
    header = element.find(_HEADER)
    if header is None:
        raise EnvelopeError("the OMEMO envelope has no <header>")
    try:
        sender_device = int(header.get("sid", ""))
        recipients = frozenset(int(key.get("rid", "")) for key in header.iter(_KEY))
    except ValueError:
        raise EnvelopeError("the OMEMO envelope has a missing or non-numeric device id") from None
    iv_element = header.find(_IV)
    if iv_element is None or not iv_element.text:
        raise EnvelopeError("the OMEMO envelope has no <iv>")
    try:
        iv = base64.b64decode(iv_element.text.strip(), validate=True)
    except binascii.Error:
        raise EnvelopeError("the OMEMO envelope's <iv> is not Base64") from None
    if len(iv) not in ACCEPTED_IV_SIZES:
        raise EnvelopeError(f"the OMEMO envelope's IV has {len(iv)} bytes, not 12 or 16")
    return EnvelopeHeader(sender_device, recipients, iv)


def transport_secret(
    plaintext: bytes | None, key_material: bytes, header_iv: bytes
) -> TransportSecret:
    """The JET secret from a decrypted envelope, in any of the forms peers send.

    ``plaintext`` is the decrypted payload (``None`` without one), ``key_material`` what the
    ratchet decrypted from our ``<key>``, ``header_iv`` the IV from the XML header.
    """
    if plaintext is not None:
        smack_secret = _smack_secret(plaintext)
        if smack_secret is not None:
            return smack_secret
    if len(key_material) not in (TK_SIZE, 2 * TK_SIZE):
        raise EnvelopeError(
            f"the OMEMO key material has {len(key_material)} bytes, not 16 (key) or 32 (key‖tag)"
        )
    return TransportSecret(key_material[:TK_SIZE], header_iv)


def _smack_secret(plaintext: bytes) -> TransportSecret | None:
    """Smack's form: the payload is the Base64 text of TK‖IV; ``None`` for anything else."""
    try:
        decoded = base64.b64decode(plaintext.strip(), validate=True)
    except binascii.Error:
        return None
    key_size = SMACK_KEY_SIZES.get(len(decoded))
    if key_size is None:
        return None
    return TransportSecret(decoded[:key_size], decoded[key_size:])


class OmemoEnvelope(Envelope):
    """Seals transport secrets with legacy OMEMO (XEP-0396) through the ``xep_0384`` plugin."""

    name: ClassVar[str] = "omemo"
    type: ClassVar[str] = LEGACY_NAMESPACE
    feature: ClassVar[str] = "urn:xmpp:jingle:jet-omemo:0"
    ciphers: ClassVar[tuple[str, ...]] = ("urn:xmpp:ciphers:aes-128-gcm-nopadding",)

    def __init__(self, xmpp: BaseXMPP, payload_form_peers: Iterable[str] = ()) -> None:
        self._xmpp = xmpp
        self._payload_form_peers = {JID(peer).bare for peer in payload_form_peers}

    def use_payload_form(self, bare_jid: str, enabled: bool = True) -> None:
        """Send ``bare_jid`` the message-with-payload form (for Libervia, which loses the IV of a
        true key transport element).

        Weaker than the XEP-0396 form: the one-byte payload and the file are encrypted under the
        same AES-GCM key and IV, which reveals the file's first byte and weakens its integrity.
        """
        peer = JID(bare_jid).bare
        if enabled:
            self._payload_form_peers.add(peer)
        else:
            self._payload_form_peers.discard(peer)

    def _plugin(self) -> OmemoPlugin:
        plugin = self._xmpp.plugin.get("xep_0384", None)
        if plugin is None:
            raise EnvelopeError(
                "OMEMO is not loaded: register slixmpp_jet.jet.omemo_plugin as xep_0384"
            )
        if not isinstance(plugin, OmemoPlugin):
            raise EnvelopeError(
                "the loaded xep_0384 plugin cannot carry a chosen key; JET-OMEMO needs "
                "slixmpp_jet.jet.omemo_plugin.OmemoPlugin (or a subclass)"
            )
        return plugin

    async def seal(self, secret: TransportSecret, context: EnvelopeContext) -> ET.Element:
        if len(secret.key) != TK_SIZE or len(secret.iv) != IV_SIZE:
            raise EnvelopeError("JET-OMEMO carries AES-128-GCM only: a 16-byte key, a 12-byte IV")
        plugin = self._plugin()
        recipient = JID(context.recipient).bare
        no_device = EnvelopeError(
            f"{recipient} has no trusted legacy-OMEMO ({LEGACY_NAMESPACE}) device "
            "to seal the transport secret for"
        )
        payload = PAYLOAD_FORM_PLAINTEXT if recipient in self._payload_form_peers else b""
        try:
            await plugin.know_devices_of(recipient)
            messages, errors = await plugin.encrypt_with_key(
                recipient, payload, secret.key, secret.iv, identifier=context.sid
            )
        except NoEligibleDevices as error:
            raise no_device from error
        except Exception as error:
            raise EnvelopeError(
                f"OMEMO could not seal the transport secret for {recipient}: {error}"
            ) from error
        for failure in errors:
            log.warning(
                "OMEMO: no key for device %s of %s: %s",
                failure.device_id,
                failure.bare_jid,
                failure.exception,
            )
        message = next(iter(messages), None)
        if message is None or not any(key.bare_jid == recipient for key, _ in message.keys):
            raise no_device
        return oldmemo.etree.serialize_message(message)

    async def open(self, element: ET.Element, context: EnvelopeContext) -> OpenedSecret:
        header = read_header(element)
        plugin = self._plugin()
        sender = JID(context.sender).bare
        try:
            plaintext, device, key_material = await self._decrypt(plugin, element, header, sender)
            trusted = await plugin.is_trusted(device)
        except EnvelopeError:
            raise
        except SenderNotFound:
            raise EnvelopeError(
                f"the OMEMO envelope was not sealed by {sender}: "
                f"{sender} has no OMEMO device {header.sender_device}"
            ) from None
        except Exception as error:
            raise EnvelopeError(
                f"the OMEMO envelope from {sender} cannot be opened "
                f"({type(error).__name__}: {error})"
            ) from error
        identity = (
            f"OMEMO device {device.device_id} of {device.bare_jid} "
            f"(fingerprint {fingerprint(device.identity_key)})"
        )
        if not trusted:
            raise EnvelopeError(f"{identity} is not trusted")
        secret = transport_secret(plaintext, key_material, header.iv)
        return OpenedSecret(secret, sender_identity=identity)

    async def _decrypt(
        self, plugin: OmemoPlugin, element: ET.Element, header: EnvelopeHeader, sender: str
    ) -> tuple[bytes | None, DeviceInformation, bytes]:
        """Payload plaintext (``None`` without one), sending device, and our ratchet-decrypted
        ``<key>`` (key material) of an envelope from ``sender``."""
        manager = await plugin.get_session_manager()
        own_device, _ = await manager.get_own_device_information()
        if own_device.device_id not in header.recipient_devices:
            raise EnvelopeError(
                f"the OMEMO envelope from {sender} is not encrypted for this device "
                f"({own_device.device_id})"
            )
        message = await oldmemo.etree.parse_message(
            element, sender, self._xmpp.boundjid.bare, manager
        )
        plaintext, device, key_material = await manager.decrypt(message)
        legacy_key_material = cast(PlainKeyMaterialImpl, key_material)
        return plaintext, device, legacy_key_material.key + legacy_key_material.auth_tag


__all__ = [
    "EnvelopeHeader",
    "OmemoEnvelope",
    "read_header",
    "transport_secret",
]
