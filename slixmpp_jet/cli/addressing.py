"""Which client of a contact to address: ``--to``/``--from`` may be a bare JID.

A full JID means exactly that client. For a bare JID we look at the contact's online clients
(from the presence it shares with us), highest presence priority first and then the most recent,
and take the first that does Jingle file transfer and the encryption asked for. "Most recent"
is when the client last announced its presence: the server stamps the presences it replays to a
newly logged-in client (XEP-0203); a live one counts from its arrival.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from xml.etree import ElementTree as ET

from slixmpp import JID, ClientXMPP, Presence
from slixmpp.jid import InvalidJID
from slixmpp.types import ResourceDict

from .failures import EXIT_USAGE, CliError
from .peers import check_reachable, choose_envelope

PRESENCE_WAIT = 5.0
"""How long to wait for the contact's first presence after logging in."""
SETTLE = 0.5
"""After the first presence, how long the others of the same burst may take to arrive."""


NS_DELAY = "urn:xmpp:delay"
_ANNOUNCED: weakref.WeakKeyDictionary[ClientXMPP, dict[str, float]] = weakref.WeakKeyDictionary()
"""Per client: when each full JID last announced its presence (seconds since the epoch)."""


def watch_presence(client: ClientXMPP) -> None:
    """Note when every contact's client announced itself; call before logging in."""
    announced = _ANNOUNCED.setdefault(client, {})

    def on_available(presence: Presence) -> None:
        announced[str(presence["from"])] = _stamp(presence.xml.find(f"{{{NS_DELAY}}}delay"))

    client.add_event_handler("presence_available", on_available)


def _stamp(delay: ET.Element | None) -> float:
    """A ``<delay/>``'s stamp, or now."""
    stamp = delay.get("stamp") if delay is not None else None
    try:
        return datetime.fromisoformat(stamp).timestamp() if stamp else time.time()
    except ValueError:
        return time.time()


@dataclass(frozen=True)
class Peer:
    """The client we address, and the envelope chosen for it (``None``: no encryption)."""

    jid: str
    envelope: str | None


def parse_jid(text: str, option: str) -> JID:
    """``text`` as a JID with at least a domain; a usage error otherwise."""
    try:
        jid = JID(text)
    except InvalidJID as error:
        raise CliError(f"{option} {text!r} is not a JID: {error}", EXIT_USAGE) from None
    if not jid.domain:
        raise CliError(f"{option} {text!r} is not a JID", EXIT_USAGE)
    return jid


async def choose_peer(client: ClientXMPP, text: str, option: str, encrypt: str) -> Peer:
    """The client ``text`` names (full JID), or the best online one of that account (bare)."""
    jid = parse_jid(text, option)
    if jid.resource:
        await check_reachable(client, jid.full)
        return Peer(jid.full, await choose_envelope(client, jid.full, encrypt))
    candidates = await online_clients(client, jid.bare)
    if not candidates:
        raise CliError(
            f"{jid.bare} has no client online that shares its presence with you (is it in your "
            "roster, with a subscription?); give a full JID (user@domain/resource) to address "
            "one client directly"
        )
    reasons = []
    for candidate in candidates:
        try:
            await check_reachable(client, candidate)
            return Peer(candidate, await choose_envelope(client, candidate, encrypt))
        except CliError as error:
            reasons.append(str(error))
    raise CliError(f"no online client of {jid.bare} can do this transfer: {'; '.join(reasons)}")


async def online_clients(client: ClientXMPP, bare: str) -> list[str]:
    """The full JIDs of ``bare``'s online clients, best first (priority, then most recent)."""
    arrived = asyncio.Event()

    def on_presence(presence: object) -> None:
        if JID(str(presence["from"])).bare == bare:  # type: ignore[index]
            arrived.set()

    client.add_event_handler("presence_available", on_presence)
    try:
        if not _resources(client, bare):
            try:
                await asyncio.wait_for(arrived.wait(), PRESENCE_WAIT)
            except TimeoutError:
                return []
            await asyncio.sleep(SETTLE)
    finally:
        client.del_event_handler("presence_available", on_presence)
    announced = _ANNOUNCED.get(client, {})
    resources = _resources(client, bare)

    def rank(item: tuple[str, ResourceDict]) -> tuple[int, float]:
        resource, presence = item
        return (-presence.get("priority", 0), -announced.get(f"{bare}/{resource}", 0.0))

    return [f"{bare}/{resource}" for resource, _ in sorted(resources.items(), key=rank)]


def _resources(client: ClientXMPP, bare: str) -> dict[str, ResourceDict]:
    """Online resources of ``bare`` in the order their presence first arrived."""
    if not client.client_roster.has_jid(bare):
        return {}
    return dict(client.client_roster[bare].resources)
