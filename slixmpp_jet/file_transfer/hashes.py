"""XEP-0300 hash functions: the algorithms we accept, their wire encoding, their disco features.

Only the XEP-0300/XEP-0414 algorithms are offered; MD5 and friends are refused outright.
Incoming values are read leniently: besides standard Base64 of the raw digest we accept
Libervia's Base64 of the hexadecimal digest string, told apart by its decoded length.
"""

from __future__ import annotations

import binascii
import hashlib
import string
from collections.abc import Callable
from typing import Protocol

from slixmpp_jet.errors import ProtocolError

NS_HASHES = "urn:xmpp:hashes:2"
NS_HASH_NAMES_PREFIX = "urn:xmpp:hash-function-text-names:"

SUPPORTED = ("sha-256", "sha-512", "sha3-256", "sha3-512", "blake2b-256", "blake2b-512", "sha-1")


class Hasher(Protocol):
    """The part of a ``hashlib`` hash object that streaming code needs."""

    @property
    def digest_size(self) -> int: ...

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...

    def hexdigest(self) -> str: ...


_CONSTRUCTORS: dict[str, Callable[[], Hasher]] = {
    "sha-256": hashlib.sha256,
    "sha-512": hashlib.sha512,
    "sha3-256": hashlib.sha3_256,
    "sha3-512": hashlib.sha3_512,
    "blake2b-256": lambda: hashlib.blake2b(digest_size=32),
    "blake2b-512": lambda: hashlib.blake2b(digest_size=64),
    # Only for old peers (Conversations checks sha-1 alone); XEP-0414 says SHOULD NOT.
    "sha-1": lambda: hashlib.sha1(usedforsecurity=False),
}

_HEX_DIGITS = frozenset(string.hexdigits.encode("ascii"))


def new_hasher(algo: str) -> Hasher:
    """Return a fresh hash object for the XEP-0300 name ``algo``.

    Raises ``ValueError`` for any algorithm outside :data:`SUPPORTED` (md5 included).
    """
    try:
        constructor = _CONSTRUCTORS[algo]
    except KeyError:
        raise ValueError(
            f"unsupported hash algorithm {algo!r}; supported: {', '.join(SUPPORTED)}"
        ) from None
    return constructor()


def encode_hash(digest: bytes, hex_in_base64: bool = False) -> str:
    """Encode a raw digest as XEP-0300 wants it: standard Base64, padded, no whitespace.

    ``hex_in_base64`` writes Libervia's form instead (Base64 of the hex digest string), for
    peers that cannot read the standard one.
    """
    raw = digest.hex().encode("ascii") if hex_in_base64 else digest
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


def decode_hash(algo: str, text: str) -> bytes:
    """Decode a ``<hash>`` value for ``algo`` into the raw digest.

    Accepts standard Base64 of the digest and Libervia's Base64 of the hex digest string.
    Raises ``ProtocolError`` (bad-request) when the text is neither, and ``ValueError``
    when ``algo`` itself is not supported.
    """
    size = new_hasher(algo).digest_size
    try:
        decoded = binascii.a2b_base64(text.strip(), strict_mode=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(
            f"the {algo} hash is not valid Base64", condition="bad-request"
        ) from None
    if len(decoded) == size:
        return decoded
    if len(decoded) == 2 * size and _HEX_DIGITS.issuperset(decoded):
        return bytes.fromhex(decoded.decode("ascii"))
    raise ProtocolError(
        f"the {algo} hash decodes to {len(decoded)} bytes, expected {size}",
        condition="bad-request",
    )


def hash_features() -> list[str]:
    """The disco#info features XEP-0300 §5 asks for: the namespace and one per algorithm."""
    return [NS_HASHES, *(NS_HASH_NAMES_PREFIX + algo for algo in SUPPORTED)]
