"""The OpenPGP envelope: the JET transport secret inside an XEP-0373 ``<signcrypt/>``.

No published specification defines JET over OpenPGP, so this project defines it, following
XEP-0373 §3 to the letter. The ``<security/>`` element carries one ``<openpgp/>`` element::

    <security xmlns='urn:xmpp:jingle:jet:0' name='CONTENT' cipher='CIPHER'
              type='urn:xmpp:openpgp:0'>
      <openpgp xmlns='urn:xmpp:openpgp:0'>BASE64</openpgp>
    </security>

``BASE64`` encodes a binary (never armored) OpenPGP message, signed with the initiator's key and
encrypted to every key of the responder and to the initiator's own key. Its plaintext is the
UTF-8 XML::

    <signcrypt xmlns='urn:xmpp:openpgp:0'>
      <to jid='RESPONDER BARE JID'/>
      <time stamp='2024-05-01T12:00:00Z'/>
      <rpad>random-length random text</rpad>
      <payload>
        <secret xmlns='urn:xmpp:jingle:jet-openpgp:0' sid='JINGLE SESSION ID'>
          <key>BASE64 transport key</key>
          <iv>BASE64 IV</iv>
        </secret>
      </payload>
    </signcrypt>

The ``<secret/>`` element and the disco feature ``urn:xmpp:jingle:jet-openpgp:0`` are
project-defined. The receiver accepts the secret only if gpg decrypts the message *and* reports
a valid signature, the signer's primary key is a key accepted for the initiator and carries the
user id ``xmpp:<initiator bare JID>``, ``<to/>`` names the responder's bare JID, ``<time/>`` is
within the clock window, ``sid`` is this Jingle session (so a secret cannot be replayed into
another session), and key (16 or 32 bytes) and IV (12 bytes) decode.

Which keys are accepted for a contact (for encrypting to them and for their signatures):
the keys pinned for their bare JID, if any (these must already be in the keyring); otherwise,
when ``fetch_from_pep`` is on, the keys they announce in PEP (XEP-0373 §4), each imported after
checking it, and each passed to the optional ``trust`` callback, which may refuse it.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import gnupg
from slixmpp import JID, ClientXMPP
from slixmpp.jid import InvalidJID
from slixmpp.xmlstream import tostring

from ..errors import EnvelopeError
from .ciphers import AES_128_GCM, AES_256_GCM
from .envelope import Envelope, EnvelopeContext, OpenedSecret, TransportSecret
from .openpgp_pep import (
    NS_OPENPGP,
    PepKeyDirectory,
    decode_base64,
    has_xmpp_uid,
    normalize_fingerprint,
    xep0082_now,
)

NS_JET_OPENPGP = "urn:xmpp:jingle:jet-openpgp:0"
_CARRIED = (AES_256_GCM, AES_128_GCM)
_KEY_SIZES = sorted({cipher.key_size for cipher in _CARRIED})
_IV_SIZES = sorted({cipher.iv_size for cipher in _CARRIED})

KeyTrust = Callable[[str, str], bool | Awaitable[bool]]
"""``trust(bare_jid, fingerprint)``: may a key this contact announces in PEP be used?"""


@dataclass(frozen=True)
class _Keyring:
    """The opened GnuPG home: python-gnupg's handle, our key, PEP access to contacts' keys."""

    gpg: Any
    own_key: str
    directory: PepKeyDirectory


def _qualified(name: str, namespace: str = NS_OPENPGP) -> str:
    return f"{{{namespace}}}{name}"


class OpenPGPEnvelope(Envelope):
    """Seals transport secrets as XEP-0373 signcrypt messages with a local GnuPG keyring.

    ``gnupghome`` holds our secret key and contacts' public keys. Our key is ``fingerprint``,
    or else the one secret key whose user id is ``xmpp:<our bare JID>``. ``pinned`` maps bare
    JIDs to the only fingerprints accepted for them. ``time_window`` bounds how far the
    ``<time/>`` of a received secret may be from our clock, either way.
    """

    name = "openpgp"
    type = NS_OPENPGP
    feature = NS_JET_OPENPGP
    ciphers = tuple(cipher.uri for cipher in _CARRIED)

    def __init__(
        self,
        xmpp: ClientXMPP,
        gnupghome: str | Path,
        *,
        fingerprint: str | None = None,
        pinned: Mapping[str, Iterable[str]] | None = None,
        fetch_from_pep: bool = True,
        time_window: timedelta = timedelta(minutes=5),
        trust: KeyTrust | None = None,
    ) -> None:
        self._xmpp = xmpp
        self._home = Path(gnupghome)
        self._wanted_key = normalize_fingerprint(fingerprint) if fingerprint else None
        self._pinned = {
            JID(jid).bare: frozenset(normalize_fingerprint(fpr) for fpr in fingerprints)
            for jid, fingerprints in (pinned or {}).items()
        }
        self._fetch_from_pep = fetch_from_pep
        self._time_window = time_window
        self._trust = trust
        self._setup = asyncio.Lock()
        self._ready: _Keyring | None = None

    async def own_fingerprint(self) -> str:
        """The fingerprint of the key we sign with (found on first use)."""
        return (await self._keyring()).own_key

    async def publish_key(self) -> str:
        """Announce our public key in our PEP (XEP-0373 §4); return its fingerprint."""
        keyring = await self._keyring()
        await keyring.directory.publish(keyring.own_key)
        return keyring.own_key

    async def seal(self, secret: TransportSecret, context: EnvelopeContext) -> ET.Element:
        """``<openpgp/>`` carrying ``secret``, signed by us, encrypted to the responder and us."""
        keyring = await self._keyring()
        recipient = JID(context.recipient).bare
        keys = await self._keys_of(keyring, recipient)
        await self._require_in_keyring(keyring.gpg, keys, recipient)
        plaintext = _signcrypt(recipient, context.sid, secret)
        result = await asyncio.to_thread(
            keyring.gpg.encrypt,
            plaintext,
            sorted({*keys, keyring.own_key}),
            sign=keyring.own_key,
            armor=False,
            always_trust=True,
        )
        if not result.ok:
            raise EnvelopeError(f"gpg could not sign and encrypt for {recipient}: {result.status}")
        element = ET.Element(_qualified("openpgp"))
        element.text = base64.b64encode(result.data).decode("ascii")
        return element

    async def open(self, element: ET.Element, context: EnvelopeContext) -> OpenedSecret:
        """The secret in ``element``, after every check of the module docstring passed."""
        if element.tag != _qualified("openpgp"):
            raise EnvelopeError(f"expected <openpgp xmlns='{NS_OPENPGP}'/>, got {element.tag}")
        message = decode_base64(element.text, "the <openpgp/> content")
        sender = JID(context.sender).bare
        keyring = await self._keyring()
        accepted = await self._keys_of(keyring, sender)
        result = await asyncio.to_thread(keyring.gpg.decrypt, message)
        signer = _verified_signer(result, sender)
        if signer not in accepted:
            raise EnvelopeError(
                f"signed by OpenPGP key {signer}, which is not an accepted key of {sender}"
            )
        listed = await asyncio.to_thread(keyring.gpg.list_keys, False, [signer])
        if not any(has_xmpp_uid(key.get("uids", []), sender) for key in listed):
            raise EnvelopeError(f"signing key {signer} has no user id xmpp:{sender}")
        secret = _read_signcrypt(
            result.data,
            recipient=JID(context.recipient).bare,
            sid=context.sid,
            window=self._time_window,
        )
        return OpenedSecret(secret, f"OpenPGP key {signer} of {sender}")

    async def _keyring(self) -> _Keyring:
        """Our GnuPG home, opened and our key found on first use."""
        async with self._setup:
            if self._ready is None:
                gpg = await asyncio.to_thread(self._open_home)
                own_key = await self._find_own_key(gpg)
                self._ready = _Keyring(gpg, own_key, PepKeyDirectory(self._xmpp, gpg))
        return self._ready

    def _open_home(self) -> Any:
        try:
            return gnupg.GPG(gnupghome=str(self._home))
        except (OSError, ValueError) as exc:
            raise EnvelopeError(f"cannot use GNUPGHOME {self._home}: {exc}") from exc

    async def _find_own_key(self, gpg: Any) -> str:
        """Our key: the configured one, or the only one with our ``xmpp:`` user id; it must be
        able to encrypt too (peers encrypt to it), or it is refused before being published."""
        ours = self._xmpp.boundjid.bare
        secret_keys: list[dict[str, Any]] = list(await asyncio.to_thread(gpg.list_keys, True))
        if self._wanted_key is not None:
            matching = [key for key in secret_keys if key["fingerprint"] == self._wanted_key]
            if not matching:
                raise EnvelopeError(f"no secret key {self._wanted_key} in {self._home}")
            if not has_xmpp_uid(matching[0].get("uids", []), ours):
                raise EnvelopeError(
                    f"our key {self._wanted_key} has no user id xmpp:{ours}; peers would refuse it"
                )
            return _able_to_encrypt(matching[0])
        candidates = [key for key in secret_keys if has_xmpp_uid(key.get("uids", []), ours)]
        if len(candidates) != 1:
            found = ", ".join(key["fingerprint"] for key in candidates) or "none"
            raise EnvelopeError(
                f"need exactly one secret key with user id xmpp:{ours} in {self._home} "
                f"(found: {found}); pass fingerprint= to choose"
            )
        return _able_to_encrypt(candidates[0])

    async def _keys_of(self, keyring: _Keyring, bare: str) -> frozenset[str]:
        """The fingerprints accepted for ``bare``: pinned, or announced in PEP and trusted."""
        if bare in self._pinned:
            return self._pinned[bare]
        if not self._fetch_from_pep:
            raise EnvelopeError(f"no OpenPGP key is pinned for {bare} and PEP lookup is off")
        announced = await keyring.directory.fetch(bare)
        trusted = frozenset([fpr for fpr in announced if await self._trusts(bare, fpr)])
        if not trusted:
            raise EnvelopeError(
                f"none of the OpenPGP keys {bare} announces is trusted: {', '.join(announced)}"
            )
        return trusted

    async def _trusts(self, bare: str, fingerprint: str) -> bool:
        if self._trust is None:
            return True
        verdict = self._trust(bare, fingerprint)
        return bool(await verdict) if inspect.isawaitable(verdict) else bool(verdict)

    async def _require_in_keyring(self, gpg: Any, keys: frozenset[str], bare: str) -> None:
        listed = await asyncio.to_thread(gpg.list_keys, False, sorted(keys))
        missing = keys - {key["fingerprint"] for key in listed}
        if missing:
            raise EnvelopeError(
                f"OpenPGP key {', '.join(sorted(missing))} of {bare} is not in {self._home}"
            )


def _able_to_encrypt(key: dict[str, Any]) -> str:
    """``key``'s fingerprint if it (or a subkey) can encrypt; otherwise why it cannot be ours."""
    fingerprint = str(key["fingerprint"])
    if "E" not in key.get("cap", ""):
        raise EnvelopeError(
            f"our OpenPGP key {fingerprint} cannot encrypt (a sign-only key): peers could not "
            "send us anything, so it is not published. Add an encryption subkey "
            f"(gpg --quick-add-key {fingerprint} cv25519 encr) or use another key"
        )
    return fingerprint


def _verified_signer(result: Any, sender: str) -> str:
    """The primary fingerprint of the key that signed a decryption ``result``, if all is well.

    python-gnupg reports ``ok`` for unsigned messages and for unknown signers, so ``valid``
    and the primary key fingerprint are checked too.
    """
    if not result.ok:
        if result.status == "no secret key":
            raise EnvelopeError("the envelope is not encrypted to any of our OpenPGP keys")
        if "[GNUPG:] BEGIN_DECRYPTION" not in result.stderr:
            raise EnvelopeError(
                f"the envelope is not an encrypted OpenPGP message ({result.status})"
            )
        raise EnvelopeError(f"gpg could not decrypt the envelope ({result.status}): it was damaged")
    if not result.valid or not result.pubkey_fingerprint:
        problems = [p for p in result.problems if p.get("status") != "no secret key"]
        if not problems:
            raise EnvelopeError(f"the envelope is encrypted but not signed (by {sender} or anyone)")
        problem = problems[-1]
        raise EnvelopeError(
            f"the envelope's signature does not verify ({problem.get('status')}, "
            f"key id {problem.get('keyid')}): it is not from a known key of {sender}"
        )
    return str(result.pubkey_fingerprint)


def _signcrypt(recipient: str, sid: str, secret: TransportSecret) -> bytes:
    """The UTF-8 ``<signcrypt/>`` plaintext carrying ``secret`` for ``recipient`` in ``sid``."""
    root = ET.Element(_qualified("signcrypt"))
    ET.SubElement(root, _qualified("to"), jid=recipient)
    ET.SubElement(root, _qualified("time"), stamp=xep0082_now())
    padding = secrets.token_urlsafe(1 + secrets.randbelow(48))
    ET.SubElement(root, _qualified("rpad")).text = padding
    payload = ET.SubElement(root, _qualified("payload"))
    carrier = ET.SubElement(payload, _qualified("secret", NS_JET_OPENPGP), sid=sid)
    for name, value in (("key", secret.key), ("iv", secret.iv)):
        child = ET.SubElement(carrier, _qualified(name, NS_JET_OPENPGP))
        child.text = base64.b64encode(value).decode("ascii")
    return tostring(root).encode("utf-8")


def _sizes(sizes: list[int]) -> str:
    return " or ".join(map(str, sizes))


def _only_child(parent: ET.Element, tag: str, what: str) -> ET.Element:
    found = parent.findall(tag)
    if len(found) != 1:
        raise EnvelopeError(f"the signcrypt must have exactly one {what}, has {len(found)}")
    return found[0]


def _names(jid: str | None, bare: str) -> bool:
    try:
        return jid is not None and JID(jid).bare == bare
    except InvalidJID:
        return False


def _read_signcrypt(data: bytes, *, recipient: str, sid: str, window: timedelta) -> TransportSecret:
    """The secret in a decrypted ``<signcrypt/>``, checking ``<to/>``, ``<time/>`` and ``sid``."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise EnvelopeError(f"the decrypted envelope is not XML: {exc}") from exc
    if root.tag != _qualified("signcrypt"):
        raise EnvelopeError(f"the decrypted envelope is {root.tag}, not <signcrypt/>")

    addressed = [to.get("jid") for to in root.findall(_qualified("to"))]
    if not any(_names(jid, recipient) for jid in addressed):
        raise EnvelopeError(f"the envelope is addressed to {addressed}, not to {recipient}")

    stamp = _only_child(root, _qualified("time"), "<time/>").get("stamp", "")
    try:
        sealed_at = datetime.fromisoformat(stamp)
    except ValueError as exc:
        raise EnvelopeError(f"the envelope's time stamp {stamp!r} is not a DateTime") from exc
    if sealed_at.tzinfo is None:
        raise EnvelopeError(f"the envelope's time stamp {stamp!r} has no time zone")
    skew = datetime.now(UTC) - sealed_at
    if abs(skew) > window:
        when = "old" if skew > timedelta(0) else "far in the future"
        raise EnvelopeError(f"the envelope's time stamp {stamp} is too {when} (window {window})")

    payload = _only_child(root, _qualified("payload"), "<payload/>")
    carrier = _only_child(payload, _qualified("secret", NS_JET_OPENPGP), "<secret/> in <payload/>")
    if carrier.get("sid") != sid:
        raise EnvelopeError(
            f"the envelope belongs to Jingle session {carrier.get('sid')!r}, not {sid!r}"
        )
    key = decode_base64(carrier.findtext(_qualified("key", NS_JET_OPENPGP)), "the <key/>")
    iv = decode_base64(carrier.findtext(_qualified("iv", NS_JET_OPENPGP)), "the <iv/>")
    if len(key) not in _KEY_SIZES or len(iv) not in _IV_SIZES:
        raise EnvelopeError(
            f"the envelope's key is {len(key)} bytes and IV {len(iv)} bytes; expected "
            f"{_sizes(_KEY_SIZES)} and {_sizes(_IV_SIZES)} bytes"
        )
    return TransportSecret(key, iv)
