"""A ready slixmpp-omemo plugin: persistent identity, an explicit trust policy, JET key transport.

slixmpp-omemo's ``XEP_0384`` is abstract: the application must supply storage and trust. This
subclass supplies both, and one thing JET-OMEMO (XEP-0396) needs that slixmpp-omemo cannot do: a
legacy-OMEMO message whose ``<key>`` elements carry a key and IV *we* chose (the transport secret)
instead of fresh random ones. Load it with::

    import slixmpp_jet.jet.omemo_plugin  # registers it as "xep_0384"
    xmpp.register_plugin("xep_0384", {"storage_path": "alice-omemo.json", "trust": "blind"})

Config:

``storage_path``
    JSON file holding this device's OMEMO identity (private keys: written atomically, mode 0600).
    ``None`` (the default) keeps everything in memory: a new device on every start.
``trust``
    ``"blind"`` (the default): Blind Trust Before Verification (BTBV). Devices of an account nobody
    has verified yet are trusted as they appear; once the application has trusted or distrusted
    one device of an account by hand, new devices of that account need a manual decision.
    ``"manual"``: only devices the application trusted (:meth:`OmemoPlugin.trust_device`, or
    ``trust_callback``) count.
``trust_callback``
    ``(bare_jid, device_id, fingerprint) -> bool``, asked once for every device that needs a manual
    decision; the answer is stored. Without it such a device is distrusted until the application
    calls :meth:`OmemoPlugin.trust_device`.
``pre_key_grace``
    Seconds a used pre-key stays usable after the last key exchange (default 60), so that
    several peers that picked the same pre-key at once all get a session
    (:mod:`slixmpp_jet.jet.omemo_sessions`).

Any number of transfers may seal and open envelopes at once: there is exactly one key exchange
per pair of devices.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from oldmemo.oldmemo import PlainKeyMaterialImpl
from omemo import (
    DeviceInformation,
    EncryptionError,
    Message,
    SessionManager,
    Storage,
)
from omemo.message import PlainKeyMaterial
from slixmpp.jid import JID
from slixmpp.plugins.base import register_plugin
from slixmpp_omemo import XEP_0384, TrustLevel

from ..errors import EnvelopeError
from .omemo_backend import (
    LEGACY_NAMESPACE,
    MAX_SKIPPED_KEYS_PER_SESSION,
    JetTwomemo,
    KeyTransportOldmemo,
    chosen_key,
)
from .omemo_sessions import (
    DEFAULT_PRE_KEY_GRACE,
    ConcurrencySafeSessions,
    jet_session_manager_class,
)
from .omemo_storage import JsonStorage, device_list_turn

TrustCallback = Callable[[str, int, str], bool]
"""``(bare_jid, device_id, fingerprint) -> bool``: may this device be trusted?"""

SIGNED_PRE_KEY_ROTATION_PERIOD = 7 * 24 * 60 * 60
"""Seconds between signed pre-key rotations: python-omemo's and slixmpp-omemo's default."""
PRE_KEY_REFILL_THRESHOLD = 99
"""Refill the pre-keys to 100 as soon as one is used (both libraries' default)."""


class TrustMode(enum.Enum):
    """How devices nobody has decided on yet are treated."""

    BLIND = "blind"
    """Blind Trust Before Verification: trusted until the account has a hand-verified device."""
    MANUAL = "manual"
    """Only devices the application trusted by hand."""


class _PlaintextLogFilter(logging.Filter):
    """Drops python-omemo's debug lines that quote plaintext (which can be a JET key)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Encrypting plaintext", "Message decrypted"))


_PLAINTEXT_LOG_FILTER = _PlaintextLogFilter()


def fingerprint(identity_key: bytes) -> str:
    """The OMEMO fingerprint users compare: eight groups of eight hex digits."""
    return " ".join(SessionManager.format_identity_key(identity_key))


class OmemoPlugin(XEP_0384):
    """slixmpp-omemo with JSON storage, a trust policy and JET key transport (see the module)."""

    name = "xep_0384"
    description = "OMEMO Encryption (slixmpp-jet)"
    default_config: ClassVar[dict[str, Any]] = {
        **XEP_0384.default_config,
        "storage_path": None,
        "trust": TrustMode.BLIND.value,
        "trust_callback": None,
        "pre_key_grace": DEFAULT_PRE_KEY_GRACE,
    }

    def plugin_init(self) -> None:
        try:
            self._trust_mode = TrustMode(self.trust)
        except ValueError:
            raise ValueError(
                f"xep_0384 trust must be 'blind' or 'manual', not {self.trust!r}"
            ) from None
        path = self.storage_path
        self._store_path = None if path is None else Path(path)
        self._json_storage = JsonStorage(self._store_path)
        self._manager_task: asyncio.Task[SessionManager] | None = None
        self._device_list_locks: dict[str, asyncio.Lock] = {}
        logging.getLogger(SessionManager.LOG_TAG).addFilter(_PLAINTEXT_LOG_FILTER)
        super().plugin_init()

    def plugin_end(self) -> None:
        super().plugin_end()
        task, self._manager_task = self._manager_task, None
        if task is None:
            return
        if task.done() and not task.cancelled() and task.exception() is None:
            self._shutdown_task = asyncio.ensure_future(task.result().shutdown())
        else:
            task.cancel()

    @property
    def storage(self) -> Storage:
        return self._json_storage

    @property
    def trust_mode(self) -> TrustMode:
        """The trust policy this plugin was configured with."""
        return self._trust_mode

    async def get_session_manager(self) -> SessionManager:
        """The python-omemo session manager, created once (with our legacy backend); a failed
        creation is tried again on the next call."""
        task = self._manager_task
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._manager_task = asyncio.ensure_future(self._create_session_manager())
        return await asyncio.shield(task)

    async def _create_session_manager(self) -> SessionManager:
        """What slixmpp-omemo's own setup does (same limits, rotation and refill), with our
        backends (:mod:`.omemo_backend`), safe under concurrency (:mod:`.omemo_sessions`).
        There is no storage of python-omemo < 1.0 to migrate."""
        backends = (
            JetTwomemo(self.storage, MAX_SKIPPED_KEYS_PER_SESSION),
            KeyTransportOldmemo(self.storage, MAX_SKIPPED_KEYS_PER_SESSION),
        )
        manager_class = jet_session_manager_class(
            self.xmpp, self, backends, float(self.pre_key_grace)
        )
        own_jid = self.xmpp.boundjid.bare
        async with device_list_turn(self._store_path, own_jid):
            manager: ConcurrencySafeSessions = await manager_class.create(
                list(backends),
                self.storage,
                own_jid,
                initial_own_label=None,
                undecided_trust_level_name=TrustLevel.UNDECIDED.value,
                signed_pre_key_rotation_period=SIGNED_PRE_KEY_ROTATION_PERIOD,
                pre_key_refill_threshold=PRE_KEY_REFILL_THRESHOLD,
            )
            await manager.after_history_sync()
            await manager.forget_used_pre_keys()  # those a run that ended within the grace kept
            await manager.ensure_data_consistency()
        self.xmpp.event("omemo_initialized")
        return manager

    async def know_devices_of(self, bare_jid: str) -> None:
        """Make sure ``bare_jid``'s device lists are known: downloaded the first time, then kept
        fresh by PEP notifications (slixmpp-omemo subscribes to them by hand for accounts we
        share no presence subscription with), so a transfer costs no device-list query."""
        jid = JID(JID(bare_jid).bare)
        manager = await self.get_session_manager()
        async with self._device_list_locks.setdefault(jid.bare, asyncio.Lock()):
            known = await manager.get_device_information(jid.bare)
            listed = any(dict(device.active).get(LEGACY_NAMESPACE) for device in known)
            await self.refresh_device_lists({jid}, force_download=not listed)

    async def encrypt_with_key(
        self,
        bare_jid: str,
        plaintext: bytes,
        key: bytes,
        iv: bytes,
        identifier: str | None = None,
    ) -> tuple[dict[Message, PlainKeyMaterial], frozenset[EncryptionError]]:
        """Legacy-OMEMO encrypt ``plaintext`` for ``bare_jid`` (and our other devices) under ``key``
        and ``iv`` instead of fresh random ones; empty ``plaintext`` gives a KeyTransportElement.

        Returns and raises what :meth:`omemo.SessionManager.encrypt` does; trust is decided by
        this plugin's policy.
        """
        if len(key) != PlainKeyMaterialImpl.KEY_LENGTH:
            raise ValueError("legacy OMEMO carries 16-byte keys only")
        manager = await self.get_session_manager()
        messages: dict[Message, PlainKeyMaterial]
        errors: frozenset[EncryptionError]
        with chosen_key(key, iv):
            messages, errors = await manager.encrypt(
                frozenset({bare_jid}),
                {LEGACY_NAMESPACE: plaintext},
                backend_priority_order=[LEGACY_NAMESPACE],
                identifier=identifier,
            )
        return messages, errors

    @property
    def _btbv_enabled(self) -> bool:
        return self._trust_mode is TrustMode.BLIND

    async def _prompt_manual_trust(
        self, manually_trusted: frozenset[DeviceInformation], identifier: str | None
    ) -> None:
        """Decide each device with ``trust_callback``; without one, a device is distrusted."""
        manager = await self.get_session_manager()
        callback: TrustCallback | None = self.trust_callback
        for device in manually_trusted:
            trusted = callback is not None and callback(
                device.bare_jid, device.device_id, fingerprint(device.identity_key)
            )
            level = TrustLevel.TRUSTED if trusted else TrustLevel.DISTRUSTED
            await manager.set_trust(device.bare_jid, device.identity_key, level.value)

    async def is_trusted(self, device: DeviceInformation) -> bool:
        """Whether ``device`` may send us secrets, deciding it now by the policy if undecided."""
        level = TrustLevel(device.trust_level_name)
        if level is TrustLevel.UNDECIDED:
            level = await self._decide(device)
        if level is TrustLevel.BLINDLY_TRUSTED:
            return self._btbv_enabled
        return level is TrustLevel.TRUSTED

    async def _decide(self, device: DeviceInformation) -> TrustLevel:
        """Decide an undecided device by the policy, store the decision and return it.

        Blind trust applies while nobody decided on a device of that account by hand (every one
        undecided or blindly trusted); otherwise, and in manual mode, ``trust_callback`` decides.
        """
        manager = await self.get_session_manager()
        if self._btbv_enabled and all(
            TrustLevel(known.trust_level_name) in (TrustLevel.UNDECIDED, TrustLevel.BLINDLY_TRUSTED)
            for known in await manager.get_device_information(device.bare_jid)
        ):
            level = TrustLevel.BLINDLY_TRUSTED
            await manager.set_trust(device.bare_jid, device.identity_key, level.value)
            await self._devices_blindly_trusted(frozenset({device}), None)
            return level
        await self._prompt_manual_trust(frozenset({device}), None)
        decided = await self._find_device(device.bare_jid, device.device_id)
        return TrustLevel(decided.trust_level_name)

    async def trust_device(self, bare_jid: str, device_id: int) -> None:
        """Mark a device as verified and trusted."""
        await self._set_trust(bare_jid, device_id, TrustLevel.TRUSTED)

    async def distrust_device(self, bare_jid: str, device_id: int) -> None:
        """Mark a device as distrusted: nothing is sealed for it or accepted from it."""
        await self._set_trust(bare_jid, device_id, TrustLevel.DISTRUSTED)

    async def _set_trust(self, bare_jid: str, device_id: int, level: TrustLevel) -> None:
        device = await self._find_device(bare_jid, device_id)
        manager = await self.get_session_manager()
        await manager.set_trust(device.bare_jid, device.identity_key, level.value)

    async def _find_device(self, bare_jid: str, device_id: int) -> DeviceInformation:
        """The device ``device_id`` of ``bare_jid``, fetching the device lists once if unknown."""
        manager = await self.get_session_manager()
        bare = JID(bare_jid).bare
        for attempt in range(2):
            if attempt:
                await self.refresh_device_lists({JID(bare)}, force_download=True)
            for device in await manager.get_device_information(bare):
                if device.device_id == device_id:
                    return device
        raise EnvelopeError(f"{bare} has no OMEMO device {device_id}")


register_plugin(OmemoPlugin)

__all__ = [
    "LEGACY_NAMESPACE",
    "JsonStorage",
    "KeyTransportOldmemo",
    "OmemoPlugin",
    "TrustCallback",
    "TrustMode",
    "chosen_key",
    "fingerprint",
]
