"""The peer gate: who may start a file session with us, and how many at once.

Runs before anything of an incoming offer or request is read, so a refused peer costs us one
``<decline/>`` and nothing else: no envelope opened, no file, no socket, no stored state.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

PeerPolicy = Callable[[str], bool]
"""``allow(peer_full_jid) -> bool``: whether this peer may offer or request files at all."""


@dataclass(frozen=True)
class RefusedPeer:
    """Event ``jingle_peer_refused``: an offer or request declined by the gate, unread."""

    peer: str
    why: str


def account_of(full_jid: str) -> str:
    """The bare JID of ``full_jid`` (a JID already validated by the stream)."""
    return full_jid.partition("/")[0].lower()


class SessionCounter:
    """Live sessions, per account (bare JID) of the peer and in total."""

    def __init__(self) -> None:
        self._per_account: Counter[str] = Counter()
        self._total = 0
        self._waiting: list[asyncio.Future[None]] = []

    def refusal(self, peer: str, per_account: int | None, total: int | None) -> str | None:
        """Why a new session from ``peer`` would exceed a limit (``None``: no limit), if it does."""
        if per_account is not None and self._per_account[account_of(peer)] >= per_account:
            return f"too many sessions at once from this account (at most {per_account})"
        if total is not None and self._total >= total:
            return f"too many sessions at once (at most {total})"
        return None

    def hold(self, peer: str) -> Callable[[], None]:
        """Count a session from ``peer``; the returned function releases it (once)."""
        account = account_of(peer)
        self._per_account[account] += 1
        self._total += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self._total -= 1
            self._per_account[account] -= 1
            if self._per_account[account] <= 0:
                del self._per_account[account]
            waiting, self._waiting = self._waiting, []
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_result(None)

        return release

    async def room_for(
        self, peer: str, per_account: int | None, total: int | None
    ) -> Callable[[], None]:
        """Wait until a session with ``peer`` fits the limits, then :meth:`hold` it."""
        while self.refusal(peer, per_account, total) is not None:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            await waiter
        return self.hold(peer)

    def of(self, peer: str) -> int:
        """How many live sessions ``peer``'s account holds."""
        return self._per_account[account_of(peer)]

    @property
    def total(self) -> int:
        return self._total


class _Roster(Protocol):
    def __getitem__(self, jid: str) -> _RosterItem: ...

    def has_jid(self, jid: str) -> bool: ...


class _RosterItem(Protocol):
    def __getitem__(self, key: str) -> object: ...


SUBSCRIBED = frozenset({"to", "from", "both"})


def subscribed_contacts(roster: _Roster) -> PeerPolicy:
    """A policy admitting only roster contacts with a presence subscription either way.

    ``roster`` is the client's roster (``xmpp.client_roster``, fetched with ``get_roster()``);
    it is consulted on every offer, so later roster changes count.
    """

    def allow(peer: str) -> bool:
        account = account_of(peer)
        return roster.has_jid(account) and roster[account]["subscription"] in SUBSCRIBED

    return allow


def only_from(jids: Iterable[str]) -> PeerPolicy:
    """A policy admitting the given accounts: a bare JID admits every resource of it, a full JID
    exactly that client."""
    given = list(jids)
    accounts = {jid.lower() for jid in given if "/" not in jid}
    clients = {_normal_full(jid) for jid in given if "/" in jid}

    def allow(peer: str) -> bool:
        return account_of(peer) in accounts or _normal_full(peer) in clients

    return allow


def _normal_full(jid: str) -> str:
    """A full JID with its bare part lower-cased (the resource is case-sensitive)."""
    bare, _, resource = jid.partition("/")
    return f"{bare.lower()}/{resource}"
