"""The command line's OMEMO identity: one device per account and machine by default."""

from __future__ import annotations

import json

import oldmemo.etree
import pytest
import twomemo.etree
from cli_helpers import json_lines
from slixmpp import JID

from slixmpp_jet.testing.demo import write_random_file

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]

SENDS_AT_ONCE = 8
DEVICE_LIST_NODES = {
    "eu.siacs.conversations.axolotl.devicelist": oldmemo.etree.parse_device_list,
    "urn:xmpp:omemo:2:devices": twomemo.etree.parse_device_list,
}


async def published_devices(client, jid: str) -> dict[str, set[int]]:
    """The device ids in ``jid``'s published device lists, per PEP node."""
    pubsub = client.plugin["xep_0060"]
    found = {}
    for node, parse in DEVICE_LIST_NODES.items():
        result = await pubsub.get_items(JID(jid), node, max_items=1)
        [item] = result["pubsub"]["items"]
        found[node] = set(parse(next(iter(item.xml))))
    return found


async def test_five_sends_publish_one_device(accounts, cli, client_factory, tmp_path, data_home):
    alice, bob = accounts(2)
    outbox, inbox = tmp_path / "out", tmp_path / "in"
    outbox.mkdir()
    receiver = cli.start(bob, "receive", "--mkdir", "--dir", str(inbox), "--count", "5", "--json",
                         resource="r")  # fmt: skip

    for number in range(5):
        source = outbox / f"file-{number}.bin"
        write_random_file(source, 1000 + number)
        sent = cli(alice, "send", "--to", f"{bob.jid}/r", "--json", str(source),
                   resource=f"run{number}")  # fmt: skip
        assert sent.status == 0, sent.stderr
        [record] = json_lines(sent.stdout)
        assert record["outcome"] == "completed" and record["envelope"] == "omemo"
    received = receiver.finish()

    assert received.status == 0, received.stderr
    assert len(json_lines(received.stdout)) == 5
    observer = await client_factory(bob, "observer", ["xep_0060"])
    devices = await published_devices(observer, alice.jid)
    [device] = devices["eu.siacs.conversations.axolotl.devicelist"]
    assert devices["urn:xmpp:omemo:2:devices"] == {device}
    store = data_home / "slixmpp-jet" / "omemo" / f"{alice.jid}.json"
    assert store.stat().st_mode & 0o777 == 0o600
    assert json.loads(store.read_text())["/own_device_id"] == device
    assert not (store.parent / f"{alice.jid}.2.json").exists()


async def test_runs_at_once_take_separate_stores(accounts, cli, client_factory, data_home):
    (alice,) = accounts(1)
    directory = data_home / "slixmpp-jet" / "omemo"
    def receiver(number: int, resource: str):
        inbox = str(directory / f"in-{number}")
        return cli.start(alice, "receive", "--mkdir", "--dir", inbox, resource=resource)

    first, second = receiver(1, "one"), receiver(2, "two")
    for process in (first, second):
        assert process.stop().status == 0
    third = receiver(3, "three")
    assert third.stop().status == 0

    stores = sorted(path.name for path in directory.glob(f"{alice.jid}*.json"))
    assert stores == [f"{alice.jid}.2.json", f"{alice.jid}.json"]
    own_ids = {json.loads((directory / name).read_text())["/own_device_id"] for name in stores}
    observer = await client_factory(alice, "observer", ["xep_0060"])
    devices = await published_devices(observer, alice.jid)
    assert devices["eu.siacs.conversations.axolotl.devicelist"] == own_ids


async def test_an_explicit_store_in_use_is_refused(accounts, cli, tmp_path):
    alice, bob = accounts(2)
    store = tmp_path / "shared-omemo.json"
    source = tmp_path / "a.bin"
    write_random_file(source, 100)
    receiver = cli.start(alice, "receive", "--mkdir", "--dir", str(tmp_path / "in"),
                         "--omemo-store", str(store), resource="r")  # fmt: skip

    refused = cli(alice, "send", "--to", f"{bob.jid}/x", "--omemo-store", str(store), str(source))

    assert refused.status == 2
    assert f"--omemo-store {store} is in use by another slixmpp-jet run" in refused.stderr
    assert receiver.stop().status == 0


async def test_sends_at_once_all_verify_with_a_store_each(accounts, cli, tmp_path, data_home):
    """New devices of one account started together publish the device list in turn (they used
    to rewrite it back and forth, hundreds of notifications, until peers stopped answering)."""
    alice, bob = accounts(2)
    outbox, inbox = tmp_path / "out", tmp_path / "in"
    outbox.mkdir()
    sources = [outbox / f"file-{number}.bin" for number in range(SENDS_AT_ONCE)]
    for number, source in enumerate(sources):
        write_random_file(source, 2000 + number)
    receiver = cli.start(bob, "receive", "--mkdir", "--dir", str(inbox),
                         "--count", str(SENDS_AT_ONCE), "--json", resource="r")  # fmt: skip

    senders = [
        cli.start(alice, "send", "--to", f"{bob.jid}/r", "--json", str(source),
                  resource=f"s{number}", ready=False)
        for number, source in enumerate(sources)
    ]  # fmt: skip
    sent = [sender.finish(timeout=120) for sender in senders]

    assert [finished.stderr for finished in sent if finished.status != 0] == []
    received = receiver.finish(timeout=60)
    assert received.status == 0, received.stderr
    assert len(json_lines(received.stdout)) == SENDS_AT_ONCE
    for source in sources:
        assert (inbox / source.name).read_bytes() == source.read_bytes()
    stores = list((data_home / "slixmpp-jet" / "omemo").glob(f"{alice.jid}*.json"))
    assert 1 <= len(stores) <= SENDS_AT_ONCE
