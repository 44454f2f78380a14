"""OMEMO devices as a person manages them: who has which, their fingerprints and trust, and
taking our own devices that no longer exist off the published device lists."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

import oldmemo
import oldmemo.etree
import twomemo
import twomemo.etree
from omemo import DeviceInformation, DeviceList
from slixmpp import JID
from slixmpp.exceptions import IqError
from slixmpp_omemo import TrustLevel

from ..errors import EnvelopeError
from .omemo_plugin import OmemoPlugin, fingerprint


@dataclass(frozen=True)
class DeviceListNode:
    """Where one OMEMO version publishes an account's device list, and how it is written."""

    namespace: str
    node: str
    parse: Callable[[ET.Element], DeviceList]
    serialize: Callable[[DeviceList], ET.Element]


DEVICE_LISTS = (
    DeviceListNode(
        oldmemo.oldmemo.NAMESPACE,
        "eu.siacs.conversations.axolotl.devicelist",
        oldmemo.etree.parse_device_list,
        oldmemo.etree.serialize_device_list,
    ),
    DeviceListNode(
        twomemo.twomemo.NAMESPACE,
        "urn:xmpp:omemo:2:devices",
        twomemo.etree.parse_device_list,
        twomemo.etree.serialize_device_list,
    ),
)
TWOMEMO_BUNDLES = "urn:xmpp:omemo:2:bundles"


def _legacy_bundle_node(device_id: int) -> str:
    return f"eu.siacs.conversations.axolotl.bundles:{device_id}"


@dataclass(frozen=True, order=True)
class KnownDevice:
    """One OMEMO device of an account, as we know it."""

    bare_jid: str
    device_id: int
    fingerprint: str
    trust: TrustLevel
    this_device: bool
    """This client's own device (its trust does not apply)."""
    listed: bool
    """Whether the account's published device lists still name it."""


async def known_devices(plugin: OmemoPlugin, bare_jid: str) -> list[KnownDevice]:
    """Every device of ``bare_jid`` (our own account included), its device lists fetched now."""
    manager = await plugin.get_session_manager()
    bare = JID(bare_jid).bare
    own, _ = await manager.get_own_device_information()
    own_key = (own.bare_jid, own.device_id)
    await manager.refresh_device_lists(bare)
    return sorted(
        _known(device, this_device=(device.bare_jid, device.device_id) == own_key)
        for device in await manager.get_device_information(bare)
    )


def _known(device: DeviceInformation, this_device: bool) -> KnownDevice:
    return KnownDevice(
        bare_jid=device.bare_jid,
        device_id=device.device_id,
        fingerprint=fingerprint(device.identity_key),
        trust=TrustLevel(device.trust_level_name),
        this_device=this_device,
        listed=any(active for _, active in device.active),
    )


async def remove_own_devices(plugin: OmemoPlugin, device_ids: Iterable[int]) -> set[int]:
    """Take our own devices ``device_ids`` off our published device lists and delete their
    bundles, so contacts stop encrypting for them; returns the ids that were listed.

    Raises :class:`EnvelopeError` for this client's own device, or when the server refuses.
    """
    manager = await plugin.get_session_manager()
    own, _ = await manager.get_own_device_information()
    doomed = set(device_ids)
    if own.device_id in doomed:
        raise EnvelopeError(f"device {own.device_id} is this client's own: it cannot be removed")
    pubsub: Any = plugin.xmpp["xep_0060"]
    account = JID(own.bare_jid)
    removed: set[int] = set()
    try:
        for device_list in DEVICE_LISTS:
            published = await _published(pubsub, account, device_list)
            remaining = {key: label for key, label in published.items() if key not in doomed}
            if remaining == published:
                continue
            removed |= published.keys() - remaining.keys()
            await pubsub.publish(
                account, device_list.node, id="current", payload=device_list.serialize(remaining)
            )
            await manager.update_device_list(device_list.namespace, own.bare_jid, remaining)
        for device_id in sorted(doomed):
            await _ignore_missing(pubsub.delete_node(account, _legacy_bundle_node(device_id)))
            await _ignore_missing(
                pubsub.retract(account, TWOMEMO_BUNDLES, str(device_id), notify=False)
            )
    except IqError as error:
        condition = error.iq["error"]["condition"]
        message = f"the server refused to change our OMEMO devices: {condition}"
        raise EnvelopeError(message) from None
    return removed


async def _published(pubsub: Any, account: JID, device_list: DeviceListNode) -> DeviceList:
    """The device list ``account`` has published at ``device_list.node`` (empty if none)."""
    try:
        result = await pubsub.get_items(account, device_list.node, max_items=1)
    except IqError as error:
        if error.iq["error"]["condition"] == "item-not-found":
            return {}
        raise
    for item in result["pubsub"]["items"]:
        for element in item.xml:
            return device_list.parse(element)
    return {}


async def _ignore_missing(request: Any) -> None:
    """Await a pubsub request; a node or item that is already gone is fine."""
    try:
        await request
    except IqError as error:
        if error.iq["error"]["condition"] != "item-not-found":
            raise


__all__ = ["DEVICE_LISTS", "KnownDevice", "known_devices", "remove_own_devices"]
