"""``slixmpp-jet omemo``: fingerprints, trust decisions and our own old devices.

``list [JID...]`` shows this account's devices and the contacts', with fingerprint and trust;
``trust JID DEVICE`` and ``distrust JID DEVICE`` store a decision in the account's OMEMO store
(what ``--trust blind`` and ``--trust manual`` then go by); ``remove DEVICE...`` takes own
devices that no longer exist off the published device lists, so contacts stop encrypting for
them. Results go to stdout (``--json``: one object per device), as for the other commands.
"""

from __future__ import annotations

import json

from slixmpp import JID, ClientXMPP

from .._plugins import loaded
from ..errors import JetError
from ..jet.omemo_devices import KnownDevice, known_devices, remove_own_devices
from ..jet.omemo_plugin import OmemoPlugin
from .failures import EXIT_FAILED, CliError
from .options import Options
from .report import Reporter

TRUST_WORDS = {
    "TRUSTED": "trusted",
    "BLINDLY_TRUSTED": "trusted blindly (not verified)",
    "UNDECIDED": "undecided",
    "DISTRUSTED": "distrusted",
}


async def run_omemo(client: ClientXMPP, options: Options, reporter: Reporter) -> None:
    """Carry out ``options.omemo_action``."""
    plugin = loaded(client, "xep_0384")
    if not isinstance(plugin, OmemoPlugin):
        raise CliError("OMEMO is not loaded", EXIT_FAILED)
    try:
        if options.omemo_action == "list":
            await _list(plugin, [client.boundjid.bare, *options.contacts], options.json)
        elif options.omemo_action in ("trust", "distrust"):
            await _decide(plugin, options)
        else:
            await _remove(plugin, options.device_ids, reporter)
    except JetError as error:
        raise CliError(str(error), EXIT_FAILED) from None


async def _list(plugin: OmemoPlugin, jids: list[str], as_json: bool) -> None:
    for jid in jids:
        devices = await known_devices(plugin, jid)
        if as_json:
            for device in devices:
                print(json.dumps(_as_record(device)), flush=True)
            continue
        print(f"{JID(jid).bare}: {len(devices)} OMEMO device(s)")
        for device in devices:
            print(f"  {device.device_id:>10}  {device.fingerprint}  {_status(device)}")
        print(flush=True)


def _status(device: KnownDevice) -> str:
    status = "this device" if device.this_device else TRUST_WORDS[device.trust.value]
    return status if device.listed else f"{status}, no longer listed"


def _as_record(device: KnownDevice) -> dict[str, object]:
    return {
        "jid": device.bare_jid,
        "device": device.device_id,
        "fingerprint": device.fingerprint,
        "trust": "own" if device.this_device else device.trust.value.lower(),
        "this_device": device.this_device,
        "listed": device.listed,
    }


async def _decide(plugin: OmemoPlugin, options: Options) -> None:
    (jid,), (device_id,) = options.contacts, options.device_ids
    bare = JID(jid).bare
    device = next(
        (known for known in await known_devices(plugin, bare) if known.device_id == device_id),
        None,
    )
    if device is None:
        raise CliError(f"{bare} has no OMEMO device {device_id}", EXIT_FAILED)
    if device.this_device:
        raise CliError(f"device {device_id} is this client's own", EXIT_FAILED)
    if options.omemo_action == "trust":
        await plugin.trust_device(bare, device_id)
    else:
        await plugin.distrust_device(bare, device_id)
    print(f"{options.omemo_action}ed: device {device_id} of {bare} ({device.fingerprint})")


async def _remove(plugin: OmemoPlugin, device_ids: tuple[int, ...], reporter: Reporter) -> None:
    removed = await remove_own_devices(plugin, device_ids)
    for device_id in device_ids:
        if device_id in removed:
            print(f"removed: device {device_id}")
        else:
            reporter.note(f"device {device_id} was not listed; its bundle is deleted if any")


__all__ = ["run_omemo"]
