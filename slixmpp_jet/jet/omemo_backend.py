"""The OMEMO backends JET-OMEMO runs on.

Both keep used pre-keys until the session manager says (:mod:`.omemo_prekeys`). The legacy one
can also encrypt under a key and IV we chose: python-omemo draws a fresh key and IV for every
message and offers no way to pass them in, and XEP-0396 carries the transport secret *as* that
key and IV. :class:`KeyTransportOldmemo` overrides the backend's public ``encrypt_plaintext`` to
use the ones set by :func:`chosen_key`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

import oldmemo
import twomemo
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from oldmemo.oldmemo import ContentImpl, PlainKeyMaterialImpl
from omemo import Backend, Storage
from omemo.session import Session

from .omemo_prekeys import UsedPreKeys

LEGACY_NAMESPACE = oldmemo.oldmemo.NAMESPACE
"""``eu.siacs.conversations.axolotl``: the OMEMO version XEP-0396 is defined for."""

MAX_SKIPPED_KEYS_PER_SESSION = 1000
"""Skipped message keys kept per session (python-omemo's and slixmpp-omemo's default)."""

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


class _KeepsUsedPreKeys(Backend):
    """What both backends share: a pre-key used by a key exchange is only noted, and deleted
    at :meth:`delete_used_pre_keys` (placed before the library's backend in the bases)."""

    _used_pre_keys: UsedPreKeys

    def _keep_used_pre_keys(self, storage: Storage) -> None:
        self._used_pre_keys = UsedPreKeys(storage, self.namespace)

    async def delete_pre_key(self, session: Session) -> bool:
        await self._used_pre_keys.note(session)
        return False

    async def delete_used_pre_keys(self) -> bool:
        """Delete the pre-keys used since the last call; whether the bundle changed."""
        # super(): the library's backend, which follows this class in every subclass's bases
        library_delete = super().delete_pre_key  # type: ignore[safe-super]
        return await self._used_pre_keys.delete(self, library_delete)


class JetTwomemo(_KeepsUsedPreKeys, twomemo.Twomemo):
    """OMEMO 2, keeping used pre-keys until :meth:`delete_used_pre_keys`."""

    def __init__(
        self, storage: Storage, max_num_per_session_skipped_keys: int = MAX_SKIPPED_KEYS_PER_SESSION
    ) -> None:
        super().__init__(storage, max_num_per_session_skipped_keys)
        self._keep_used_pre_keys(storage)


class KeyTransportOldmemo(_KeepsUsedPreKeys, oldmemo.Oldmemo):
    """The legacy-OMEMO backend, able to encrypt under a key and IV the caller chose, keeping
    used pre-keys until :meth:`delete_used_pre_keys`.

    Inside :func:`chosen_key`, an empty plaintext gives a KeyTransportElement whose ``<key>``
    elements hold exactly the 16-byte key (no tag) and whose ``<iv>`` is the chosen IV; a
    non-empty one gives an ordinary message whose ``<key>`` elements hold key‖tag.
    """

    def __init__(
        self, storage: Storage, max_num_per_session_skipped_keys: int = MAX_SKIPPED_KEYS_PER_SESSION
    ) -> None:
        super().__init__(storage, max_num_per_session_skipped_keys)
        self._keep_used_pre_keys(storage)

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


JetBackend = JetTwomemo | KeyTransportOldmemo
"""A backend whose used pre-keys wait for :meth:`delete_used_pre_keys`."""

__all__ = [
    "LEGACY_NAMESPACE",
    "MAX_SKIPPED_KEYS_PER_SESSION",
    "JetBackend",
    "JetTwomemo",
    "KeyTransportOldmemo",
    "chosen_key",
]
