"""XEP-0373 §4: announce our OpenPGP public key over PEP and import the keys a contact announces.

Two kinds of PEP node are involved:

- the data node ``urn:xmpp:openpgp:0:public-keys:<FPR>``, one per key, holding
  ``<pubkey xmlns='urn:xmpp:openpgp:0'><data>BASE64 binary key</data></pubkey>`` in an item whose
  id is the publication time (XEP-0082);
- the metadata node ``urn:xmpp:openpgp:0:public-keys``, holding
  ``<public-keys-list><pubkey-metadata v4-fingerprint='FPR' date='…'/>…</public-keys-list>``.

Both are published with the ``open`` access model the XEP recommends. A fetched key is imported
into the local keyring only when it is exactly the announced key and carries the user id
``xmpp:<bare JID>`` of the contact who announced it (XEP-0373 §3.2, §9 "OpenPGP User IDs").
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from slixmpp import JID, ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.jid import InvalidJID

from ..errors import EnvelopeError

log = logging.getLogger(__name__)

NS_OPENPGP = "urn:xmpp:openpgp:0"
PUBLIC_KEYS_NODE = f"{NS_OPENPGP}:public-keys"
_PUBLISH_OPTIONS = "http://jabber.org/protocol/pubsub#publish-options"
_FINGERPRINT = re.compile(r"[0-9A-F]{40}")


def public_key_node(fingerprint: str) -> str:
    """The PEP node holding the public key with this v4 fingerprint."""
    return f"{PUBLIC_KEYS_NODE}:{fingerprint}"


def normalize_fingerprint(text: str) -> str:
    """``text`` as an XEP-0373 v4 fingerprint string: 40 upper-case hex digits, no spaces."""
    fingerprint = "".join(text.split()).upper()
    if not _FINGERPRINT.fullmatch(fingerprint):
        raise ValueError(f"{text!r} is not an OpenPGP v4 fingerprint (40 hex digits)")
    return fingerprint


def xep0082_now() -> str:
    """The current UTC time as an XEP-0082 DateTime, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decode_base64(text: str | None, what: str) -> bytes:
    """Strict base64 of ``text`` (whitespace allowed, as in the XEP examples), non-empty.

    ``what`` names the data in the :class:`EnvelopeError` raised for anything else.
    """
    compact = "".join((text or "").split())
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeError(f"{what} is not valid base64: {exc}") from exc
    if not data:
        raise EnvelopeError(f"{what} is empty")
    return data


def has_xmpp_uid(uids: Iterable[str], jid: str) -> bool:
    """Whether one of ``uids`` is ``xmpp:<bare JID of jid>`` (compared as normalized JIDs)."""
    wanted = JID(jid).bare
    for uid in uids:
        if not uid.startswith("xmpp:"):
            continue
        try:
            if JID(uid.removeprefix("xmpp:")).bare == wanted:
                return True
        except InvalidJID:
            continue
    return False


@dataclass(frozen=True)
class AnnouncedKey:
    """One ``<pubkey-metadata/>`` entry of a public-keys list."""

    fingerprint: str
    date: str
    """When the key was published or updated (XEP-0082 DateTime, as announced)."""


class PepKeyDirectory:
    """Publishes our public key and fetches contacts' keys, over PEP, into one GnuPG keyring.

    ``gpg`` is a :class:`gnupg.GPG`; every call to it runs in a worker thread so that gpg never
    blocks the event loop. The client gets the ``xep_0060`` plugin registered if it lacks it.
    """

    def __init__(self, xmpp: ClientXMPP, gpg: Any) -> None:
        self._xmpp = xmpp
        self._gpg = gpg
        xmpp.register_plugin("xep_0060")

    async def publish(self, fingerprint: str) -> None:
        """Announce our public key ``fingerprint``: data node first, then the metadata list."""
        fingerprint = normalize_fingerprint(fingerprint)
        data: bytes = await asyncio.to_thread(
            self._gpg.export_keys, fingerprint, armor=False, minimal=True
        )
        if not data:
            raise EnvelopeError(f"cannot publish OpenPGP key {fingerprint}: not in the keyring")
        stamp = xep0082_now()
        pubkey = ET.Element(f"{{{NS_OPENPGP}}}pubkey")
        ET.SubElement(pubkey, f"{{{NS_OPENPGP}}}data").text = base64.b64encode(data).decode()
        await self._publish(public_key_node(fingerprint), stamp, pubkey)

        others = [key for key in await self.announced(None) if key.fingerprint != fingerprint]
        listing = ET.Element(f"{{{NS_OPENPGP}}}public-keys-list")
        for key in [*others, AnnouncedKey(fingerprint, stamp)]:
            ET.SubElement(
                listing,
                f"{{{NS_OPENPGP}}}pubkey-metadata",
                {"v4-fingerprint": key.fingerprint, "date": key.date},
            )
        await self._publish(PUBLIC_KEYS_NODE, "current", listing)

    async def announced(self, jid: str | None) -> list[AnnouncedKey]:
        """The keys ``jid`` (``None``: our own account) lists in its metadata node.

        Entries whose fingerprint is malformed are skipped; an absent node means no keys.
        """
        listing = await self._latest_payload(jid, PUBLIC_KEYS_NODE)
        if listing is None or listing.tag != f"{{{NS_OPENPGP}}}public-keys-list":
            return []
        keys: dict[str, AnnouncedKey] = {}
        for entry in listing.iterfind(f"{{{NS_OPENPGP}}}pubkey-metadata"):
            try:
                fingerprint = normalize_fingerprint(entry.get("v4-fingerprint", ""))
            except ValueError as exc:
                log.warning("ignoring a pubkey-metadata entry of %s: %s", jid, exc)
                continue
            keys.setdefault(fingerprint, AnnouncedKey(fingerprint, entry.get("date", "")))
        return list(keys.values())

    async def fetch(self, jid: str) -> tuple[str, ...]:
        """Import every key ``jid`` announces that checks out; return their fingerprints.

        A key is skipped (and the reason logged) when its data node is missing or holds anything
        other than exactly that public key with the user id ``xmpp:<bare JID>``. Raises
        :class:`EnvelopeError` when no announced key is usable.
        """
        bare = JID(jid).bare
        announced = await self.announced(bare)
        if not announced:
            raise EnvelopeError(f"{bare} announces no OpenPGP key in PEP ({PUBLIC_KEYS_NODE})")
        imported: list[str] = []
        refusals: list[str] = []
        for key in announced:
            try:
                imported.append(await self._import(bare, key.fingerprint))
            except EnvelopeError as exc:
                log.warning("skipping OpenPGP key %s of %s: %s", key.fingerprint, bare, exc)
                refusals.append(str(exc))
        if not imported:
            raise EnvelopeError(
                f"none of the OpenPGP keys {bare} announces is usable: " + "; ".join(refusals)
            )
        return tuple(imported)

    async def _import(self, bare: str, fingerprint: str) -> str:
        """Fetch the data node of ``fingerprint``, check it, import it into the keyring."""
        node = public_key_node(fingerprint)
        pubkey = await self._latest_payload(bare, node)
        if pubkey is None or pubkey.tag != f"{{{NS_OPENPGP}}}pubkey":
            raise EnvelopeError(f"{node} of {bare} holds no <pubkey/>")
        data = decode_base64(pubkey.findtext(f"{{{NS_OPENPGP}}}data"), f"the key data in {node}")
        scanned: list[dict[str, Any]] = list(await asyncio.to_thread(self._gpg.scan_keys_mem, data))
        found = [(key.get("type"), key.get("fingerprint")) for key in scanned]
        if found != [("pub", fingerprint)]:
            raise EnvelopeError(
                f"{node} of {bare} must hold exactly public key {fingerprint}, holds {found}"
            )
        if not has_xmpp_uid(scanned[0].get("uids", []), bare):
            raise EnvelopeError(f"key {fingerprint} announced by {bare} has no user id xmpp:{bare}")
        result = await asyncio.to_thread(self._gpg.import_keys, data)
        if fingerprint not in result.fingerprints:
            raise EnvelopeError(f"gpg did not import key {fingerprint}: {result.summary()}")
        return fingerprint

    async def _latest_payload(self, jid: str | None, node: str) -> ET.Element | None:
        """The payload of the newest item of ``node`` at ``jid``; ``None`` if there is none."""
        try:
            result = await self._xmpp.plugin["xep_0060"].get_items(jid, node, max_items=1)
        except IqError as exc:
            if exc.condition == "item-not-found":
                return None
            raise EnvelopeError(f"cannot read {node} of {jid}: {exc.condition} {exc.text}") from exc
        except IqTimeout as exc:
            raise EnvelopeError(f"no answer when reading {node} of {jid}") from exc
        payloads = [item["payload"] for item in result["pubsub"]["items"]]
        found = [payload for payload in payloads if payload is not None]
        return found[-1] if found else None

    async def _publish(self, node: str, item_id: str, payload: ET.Element) -> None:
        """Publish ``payload`` to our own PEP ``node`` with the open access model."""
        options = self._xmpp.plugin["xep_0004"].make_form(ftype="submit")
        options.add_field(var="FORM_TYPE", ftype="hidden", value=_PUBLISH_OPTIONS)
        options.add_field(var="pubsub#access_model", value="open")
        try:
            await self._xmpp.plugin["xep_0060"].publish(
                None, node, id=item_id, payload=payload, options=options
            )
        except IqError as exc:
            raise EnvelopeError(f"cannot publish to PEP node {node}: {exc.condition}") from exc
        except IqTimeout as exc:
            raise EnvelopeError(f"no answer when publishing to PEP node {node}") from exc
