"""Used pre-keys kept for a while, so several senders that picked the same one all get through.

Senders that fetch our bundle at the same moment pick their one-time pre-keys at random from it,
and two of them may pick the same one. python-omemo deletes a pre-key at its first use, so the
later key exchanges with it fail (``KeyExchangeFailed: No pre key with id N known``) and those
senders' envelopes are lost. Its own remedy, the "history synchronisation" mode that hides a
used pre-key but keeps it, does not hold with Oldmemo and Twomemo 2.1: a hidden pre-key is not
part of the stored X3DH state, so it is gone at the next load.

So our backends (:mod:`.omemo_backend`) note a used pre-key in :class:`UsedPreKeys` instead of
deleting it; the session manager deletes the noted ones a grace period after the last key
exchange (:meth:`~slixmpp_jet.jet.omemo_sessions.ConcurrencySafeSessions.forget_used_pre_keys`)
and only then publishes the bundle with fresh pre-keys. Meanwhile the pre-key stays in the
published bundle: a sender that picks it then still gets through. The devices whose key
exchanges used pre-keys are stored too, so a run that ends within the grace has the next start
delete them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from omemo import Backend, Storage
from omemo.session import Session

PRE_KEY_COUNT = 100
"""How many pre-keys a bundle holds (python-omemo's number)."""

DeletePreKey = Callable[[Session], Awaitable[bool]]
"""A backend's own deletion of the pre-key a session was built with."""


class UsedPreKeys:
    """The pre-keys one backend has seen used and not deleted yet."""

    def __init__(self, storage: Storage, namespace: str) -> None:
        self._storage = storage
        self._key = f"/slixmpp-jet/used-pre-keys/{namespace}"
        self._sessions: list[Session] = []

    async def note(self, session: Session) -> None:
        """``session`` was built passively with one of our pre-keys."""
        self._sessions.append(session)
        devices = await self._noted_devices()
        device = (session.bare_jid, session.device_id)
        if device not in devices:
            await self._storage.store(self._key, [list(known) for known in [*devices, device]])

    async def delete(self, backend: Backend, delete_now: DeletePreKey) -> bool:
        """Delete every noted pre-key with ``delete_now`` and refill ``backend``'s pre-keys;
        whether its bundle changed."""
        sessions, self._sessions = self._sessions, []
        for bare_jid, device_id in await self._noted_devices():
            stored = await backend.load_session(bare_jid, device_id)
            if stored is not None:  # from an earlier run: its key exchange's pre-key
                sessions.append(stored)
        await self._storage.delete(self._key)
        changed = False
        for session in sessions:
            changed |= await delete_now(session)
        if changed:
            await backend.generate_pre_keys(
                PRE_KEY_COUNT - await backend.get_num_visible_pre_keys()
            )
        return changed

    async def _noted_devices(self) -> list[tuple[str, int]]:
        noted = (await self._storage.load(self._key)).maybe([])
        if not isinstance(noted, list):
            return []
        return [
            (bare_jid, device_id)
            for bare_jid, device_id in (entry for entry in noted if isinstance(entry, list))
            if isinstance(bare_jid, str) and isinstance(device_id, int)
        ]


__all__ = ["PRE_KEY_COUNT", "DeletePreKey", "UsedPreKeys"]
