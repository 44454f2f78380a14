"""The JET stream ciphers (XEP-0391 §5): AES-128-GCM and AES-256-GCM without padding.

A :class:`Cipher` is a value: the URI we send, the spellings we accept from peers, and the
sizes of key, IV and tag. It also makes the fresh :class:`TransportSecret` of a transfer and the
`cryptography` contexts the stream layer (:mod:`slixmpp_jet.jet.stream`) runs the bytes through.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import (
    AEADDecryptionContext,
    AEADEncryptionContext,
    algorithms,
    modes,
)
from cryptography.hazmat.primitives.ciphers import Cipher as _AesCipher

from slixmpp_jet.errors import SecurityError
from slixmpp_jet.jet.envelope import TransportSecret

MAX_PLAINTEXT_SIZE = (2**39 - 256) // 8
"""Most bytes one GCM invocation may encrypt under one key and IV (NIST SP 800-38D §5.2.1.1)."""

LEGACY_IV_SIZE = 16
"""IV length Dino 0.1.x sent; accepted on receipt, never generated."""


@dataclass(frozen=True)
class Cipher:
    """One JET cipher: AES-GCM over the whole stream, no AAD, the tag appended at the end."""

    name: str
    """Short name for the API and the CLI, e.g. ``"aes-128-gcm"``."""
    uri: str
    """The ``cipher`` URI we send."""
    spellings: frozenset[str]
    """Every ``cipher`` URI we accept from a peer for this cipher (``uri`` among them)."""
    key_size: int
    iv_size: int = 12
    tag_size: int = 16

    def new_secret(self) -> TransportSecret:
        """A fresh random key and a separately drawn random IV for one transfer."""
        return TransportSecret(key=os.urandom(self.key_size), iv=os.urandom(self.iv_size))

    def encryptor(self, secret: TransportSecret) -> AEADEncryptionContext:
        """A streaming AES-GCM encryptor for a ``secret`` already checked against this cipher
        (use :class:`~slixmpp_jet.jet.security.StreamSecurity`, which checks it once)."""
        return _AesCipher(algorithms.AES(secret.key), modes.GCM(secret.iv)).encryptor()

    def decryptor(self, secret: TransportSecret) -> AEADDecryptionContext:
        """A streaming AES-GCM decryptor for a checked ``secret``; the tag is given at the end."""
        mode = modes.GCM(secret.iv, min_tag_length=self.tag_size)
        return _AesCipher(algorithms.AES(secret.key), mode).decryptor()


AES_128_GCM = Cipher(
    name="aes-128-gcm",
    # Without ":0": the only spelling Dino and Conversations accept (XEP-0396's example).
    uri="urn:xmpp:ciphers:aes-128-gcm-nopadding",
    spellings=frozenset(
        {
            "urn:xmpp:ciphers:aes-128-gcm-nopadding",
            "urn:xmpp:ciphers:aes-128-gcm-nopadding:0",
            "aes-128-gcm-nopadding:0",
        }
    ),
    key_size=16,
)

AES_256_GCM = Cipher(
    name="aes-256-gcm",
    # No deployed client sends AES-256; follow the XEP-0391 §5 table.
    uri="urn:xmpp:ciphers:aes-256-gcm-nopadding:0",
    spellings=frozenset(
        {
            "urn:xmpp:ciphers:aes-256-gcm-nopadding",
            "urn:xmpp:ciphers:aes-256-gcm-nopadding:0",
            "aes-256-gcm-nopadding:0",
        }
    ),
    key_size=32,
)

CIPHERS: tuple[Cipher, ...] = (AES_128_GCM, AES_256_GCM)
"""Every cipher we support, the default first."""


def cipher_for_uri(uri: str) -> Cipher:
    """The cipher a peer's ``cipher`` attribute names, in any spelling we accept."""
    for cipher in CIPHERS:
        if uri in cipher.spellings:
            return cipher
    known = ", ".join(cipher.uri for cipher in CIPHERS)
    raise SecurityError(f"unsupported JET cipher {uri!r} (supported: {known})")


def cipher_by_name(name: str) -> Cipher:
    """The cipher with the short name ``name`` (``"aes-128-gcm"``, ``"aes-256-gcm"``)."""
    for cipher in CIPHERS:
        if cipher.name == name:
            return cipher
    known = ", ".join(cipher.name for cipher in CIPHERS)
    raise SecurityError(f"unknown cipher name {name!r} (choose one of: {known})")


def validate_secret(cipher: Cipher, secret: TransportSecret) -> TransportSecret:
    """``secret`` checked against ``cipher``, normalised the lenient way deployed peers need.

    A 32-byte key for AES-128 keeps its first 16 bytes (OMEMO key material is key‖auth-tag
    when a peer seals the secret as a normal message); a 16-byte IV is accepted (Dino 0.1.x).
    Anything else raises :class:`SecurityError`.
    """
    key = secret.key
    if cipher.key_size == 16 and len(key) == 32:
        key = key[:16]
    if len(key) != cipher.key_size:
        raise SecurityError(
            f"{cipher.name} needs a {cipher.key_size}-byte key, the transport secret has "
            f"{len(secret.key)} bytes"
        )
    if len(secret.iv) not in (cipher.iv_size, LEGACY_IV_SIZE):
        raise SecurityError(
            f"{cipher.name} needs a {cipher.iv_size}-byte IV, the transport secret has "
            f"{len(secret.iv)} bytes"
        )
    return TransportSecret(key=key, iv=secret.iv)


def check_plaintext_size(size: int) -> None:
    """Refuse a stream that one GCM invocation cannot encrypt safely (over ~64 GiB)."""
    if size < 0:
        raise SecurityError(f"a stream cannot hold {size} bytes")
    if size > MAX_PLAINTEXT_SIZE:
        raise SecurityError(
            f"{size} bytes is more than one AES-GCM stream may encrypt "
            f"({MAX_PLAINTEXT_SIZE} bytes, about 64 GiB)"
        )
