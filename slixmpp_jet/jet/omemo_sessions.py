"""The session manager JET-OMEMO runs on: slixmpp-omemo's, one ratchet operation at a time.

python-omemo's ``encrypt`` loads the sessions of every recipient device, may then wait for the
network (a bundle to download, to build a session), and only stores the sessions at its end;
``decrypt`` likewise loads, decrypts, stores and may upload our bundle. Run concurrently, two
``encrypt`` calls to a device without a session each build their own, both spending pre-keys
of the same bundle (the receiver then finds a pre-key already used: ``KeyExchangeFailed``), and
an ``encrypt`` overlapping a ``decrypt`` stores a stale ratchet over a newer one.
:class:`OneRatchetAtATime` runs them one after another: one key exchange per device pair,
whatever the number of transfers started at once. Warm sessions cost no network, so the lock
is held for milliseconds.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from omemo import DeviceInformation, EncryptionError, Message, OMEMOException, SessionManager
from omemo.message import PlainKeyMaterial
from slixmpp.basexmpp import BaseXMPP

from .omemo_seam import session_manager_class

if TYPE_CHECKING:
    from slixmpp_omemo import XEP_0384


class OneRatchetAtATime(SessionManager):
    """Serialises every public session manager call that loads and stores sessions."""

    def __init__(self) -> None:
        super().__init__()
        self._ratchets = asyncio.Lock()

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
            return await super().decrypt(message)

    async def replace_sessions(self, device: DeviceInformation) -> dict[str, OMEMOException]:
        async with self._ratchets:
            return await super().replace_sessions(device)


def jet_session_manager_class(xmpp: BaseXMPP, plugin: XEP_0384) -> type[SessionManager]:
    """slixmpp-omemo's session manager class for ``xmpp``, with :class:`OneRatchetAtATime`."""
    upstream = session_manager_class(xmpp, plugin)
    combined = type("JetSessionManager", (OneRatchetAtATime, upstream), {})
    return cast(type[SessionManager], combined)


__all__ = ["OneRatchetAtATime", "jet_session_manager_class"]
