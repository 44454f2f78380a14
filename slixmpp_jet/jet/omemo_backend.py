"""The legacy-OMEMO backend JET-OMEMO needs: one that can encrypt under a key and IV we chose.

python-omemo draws a fresh key and IV for every message and offers no way to pass them in;
XEP-0396 carries the transport secret *as* that key and IV. :class:`KeyTransportOldmemo`
overrides the backend's public ``encrypt_plaintext`` to use the ones set by :func:`chosen_key`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

import oldmemo
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from oldmemo.oldmemo import ContentImpl, PlainKeyMaterialImpl

LEGACY_NAMESPACE = oldmemo.oldmemo.NAMESPACE
"""``eu.siacs.conversations.axolotl``: the OMEMO version XEP-0396 is defined for."""

_GCM_TAG_SIZE = 16

_CHOSEN_KEY: contextvars.ContextVar[tuple[bytes, bytes] | None] = contextvars.ContextVar(
    "slixmpp_jet_omemo_chosen_key", default=None
)
"""Key and IV that :class:`KeyTransportOldmemo` uses instead of fresh ones, for this task only."""


@contextmanager
def chosen_key(key: bytes, iv: bytes) -> Iterator[None]:
    """Within this block (and this task), :class:`KeyTransportOldmemo` encrypts under ``key`` and
    ``iv`` instead of fresh random ones."""
    token = _CHOSEN_KEY.set((key, iv))
    try:
        yield
    finally:
        _CHOSEN_KEY.reset(token)


class KeyTransportOldmemo(oldmemo.Oldmemo):
    """The legacy-OMEMO backend, able to encrypt under a key and IV the caller chose.

    Inside :func:`chosen_key`, an empty plaintext gives a KeyTransportElement whose ``<key>``
    elements hold exactly the 16-byte key (no tag) and whose ``<iv>`` is the chosen IV; a
    non-empty one gives an ordinary message whose ``<key>`` elements hold key‖tag.
    """

    async def encrypt_plaintext(self, plaintext: bytes) -> tuple[ContentImpl, PlainKeyMaterialImpl]:
        chosen = _CHOSEN_KEY.get()
        if chosen is None:
            return await super().encrypt_plaintext(plaintext)
        key, iv = chosen
        if not plaintext:
            return ContentImpl(b"", iv), PlainKeyMaterialImpl(key, b"")
        sealed = AESGCM(key).encrypt(iv, plaintext, None)
        return (
            ContentImpl(sealed[:-_GCM_TAG_SIZE], iv),
            PlainKeyMaterialImpl(key, sealed[-_GCM_TAG_SIZE:]),
        )


__all__ = ["LEGACY_NAMESPACE", "KeyTransportOldmemo", "chosen_key"]
