"""The session manager JET-OMEMO runs on: slixmpp-omemo's, safe under concurrency.

**One ratchet operation at a time.** python-omemo's ``encrypt`` loads the sessions of every
recipient device, may then wait for the network (a bundle to download, to build a session), and
only stores the sessions at its end; ``decrypt`` likewise loads, decrypts, stores and may upload
our bundle. Run concurrently, two ``encrypt`` calls to a device without a session each build
their own, both spending pre-keys of the same bundle (the receiver then finds a pre-key already
used: ``KeyExchangeFailed``), and an ``encrypt`` overlapping a ``decrypt`` stores a stale ratchet
over a newer one. :class:`ConcurrencySafeSessions` runs them one after another: one key exchange
per device pair, whatever the number of transfers started at once. Warm sessions cost no
network, so the lock is held for milliseconds.

**Used pre-keys kept for a while.** Several *senders* that fetched our bundle at the same time
may pick the same pre-key; our backends keep a used pre-key (:mod:`.omemo_prekeys`), and
:meth:`~ConcurrencySafeSessions.forget_used_pre_keys` deletes them ``pre_key_grace`` seconds
after the last key exchange (at most ten graces after the first one of a burst), then publishes
the refilled bundle.

**Own device lists checked before answering.** A device-list notification of our own account
that lacks this device is compared with the list published now before this device adds itself
(:meth:`~ConcurrencySafeSessions.update_device_list`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import TYPE_CHECKING, ClassVar, cast

from omemo import (
    DeviceInformation,
    DeviceList,
    EncryptionError,
    Message,
    OMEMOException,
    SessionManager,
)
from omemo.message import PlainKeyMaterial
from slixmpp.basexmpp import BaseXMPP

from .omemo_backend import JetBackend
from .omemo_seam import session_manager_class

if TYPE_CHECKING:
    from slixmpp_omemo import XEP_0384

log = logging.getLogger(__name__)

_CHECKING_OWN_LIST: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "slixmpp_jet_checking_own_device_list", default=False
)
"""Set while an own device list that lacked this device is fetched again (this task only)."""

DEFAULT_PRE_KEY_GRACE = 60.0
"""Seconds a used pre-key stays usable after the last key exchange."""
LONGEST_POSTPONEMENT = 10
"""A burst of key exchanges postpones forgetting by at most this many graces."""


class ConcurrencySafeSessions(SessionManager):
    """Serialises every call that loads and stores sessions; keeps used pre-keys for a grace."""

    pre_key_grace: ClassVar[float] = DEFAULT_PRE_KEY_GRACE
    pre_key_backends: ClassVar[tuple[JetBackend, ...]] = ()
    """The backends whose used pre-keys :meth:`forget_used_pre_keys` deletes."""

    def __init__(self) -> None:
        super().__init__()
        self._ratchets = asyncio.Lock()
        self._forget_timer: asyncio.TimerHandle | None = None
        self._burst_started: float | None = None
        self._forgetting: asyncio.Task[None] | None = None

    async def encrypt(
        self,
        bare_jids: frozenset[str],
        plaintext: dict[str, bytes],
        backend_priority_order: list[str] | None = None,
        identifier: str | None = None,
    ) -> tuple[dict[Message, PlainKeyMaterial], frozenset[EncryptionError]]:
        async with self._ratchets:
            return await super().encrypt(bare_jids, plaintext, backend_priority_order, identifier)

    async def decrypt(
        self, message: Message
    ) -> tuple[bytes | None, DeviceInformation, PlainKeyMaterial]:
        async with self._ratchets:
            result = await super().decrypt(message)
        if await self._is_key_exchange_for_us(message):
            self._postpone_forgetting()
        return result

    async def replace_sessions(self, device: DeviceInformation) -> dict[str, OMEMOException]:
        async with self._ratchets:
            return await super().replace_sessions(device)

    async def update_device_list(
        self, namespace: str, bare_jid: str, device_list: DeviceList
    ) -> None:
        """As python-omemo's, but a list of our own account that lacks this device is checked
        against the list published now before this device adds itself back to it.

        Such a list may be stale: notifications queued while this device was starting arrive
        after it published itself. Answering a stale one with "stale list + this device" would
        drop the devices published meanwhile, and those would answer in kind: own devices
        started together would rewrite the list back and forth for a long while.
        """
        if not _CHECKING_OWN_LIST.get():
            own, _ = await self.get_own_device_information()
            if bare_jid == own.bare_jid and own.device_id not in device_list:
                token = _CHECKING_OWN_LIST.set(True)
                try:  # comes back here with the list as published now
                    await self.refresh_device_list(namespace, bare_jid)
                finally:
                    _CHECKING_OWN_LIST.reset(token)
                return
        await super().update_device_list(namespace, bare_jid, device_list)

    async def forget_used_pre_keys(self) -> None:
        """Delete the pre-keys used so far, and publish the bundle refilled with fresh ones."""
        async with self._ratchets:
            changed = [await backend.delete_used_pre_keys() for backend in self.pre_key_backends]
        if any(changed):
            await self.ensure_data_consistency()

    async def shutdown(self) -> None:
        if self._forget_timer is not None:
            self._forget_timer.cancel()
        if self._forgetting is not None:
            await asyncio.gather(self._forgetting, return_exceptions=True)
        await super().shutdown()

    async def _is_key_exchange_for_us(self, message: Message) -> bool:
        own, _ = await self.get_own_device_information()
        return any(
            key.device_id == own.device_id and key.bare_jid == own.bare_jid and exchange is not None
            for key, exchange in message.keys
        )

    def _postpone_forgetting(self) -> None:
        """Forget the used pre-keys a grace after now (a burst postpones it only so far)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._forget_timer is not None:
            self._forget_timer.cancel()
        if self._burst_started is None:
            self._burst_started = now
        latest = self._burst_started + LONGEST_POSTPONEMENT * self.pre_key_grace
        delay = max(0.0, min(self.pre_key_grace, latest - now))
        self._forget_timer = loop.call_later(delay, self._start_forgetting)

    def _start_forgetting(self) -> None:
        self._forget_timer = None
        self._burst_started = None
        if self._forgetting is None or self._forgetting.done():
            self._forgetting = asyncio.ensure_future(self._forget_quietly())

    async def _forget_quietly(self) -> None:
        try:
            await self.forget_used_pre_keys()
        except Exception as error:  # the next key exchange schedules it again
            log.warning("OMEMO: used pre-keys not deleted yet: %s", error)


def jet_session_manager_class(
    xmpp: BaseXMPP,
    plugin: XEP_0384,
    backends: tuple[JetBackend, ...],
    pre_key_grace: float = DEFAULT_PRE_KEY_GRACE,
) -> type[ConcurrencySafeSessions]:
    """slixmpp-omemo's session manager class for ``xmpp``, with :class:`ConcurrencySafeSessions`
    keeping the used pre-keys of ``backends`` for ``pre_key_grace`` seconds."""
    upstream = session_manager_class(xmpp, plugin)
    combined = type(
        "JetSessionManager",
        (ConcurrencySafeSessions, upstream),
        {"pre_key_grace": pre_key_grace, "pre_key_backends": backends},
    )
    return cast(type[ConcurrencySafeSessions], combined)


__all__ = [
    "DEFAULT_PRE_KEY_GRACE",
    "ConcurrencySafeSessions",
    "jet_session_manager_class",
]
