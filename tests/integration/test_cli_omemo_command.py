"""``slixmpp-jet omemo``: fingerprints, trust decisions and own old devices, on the real
Prosody, with the accounts' default OMEMO stores."""

from __future__ import annotations

import pytest
from cli_helpers import json_lines
from test_cli_omemo_store import published_devices

from slixmpp_jet.testing.demo import write_random_file

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]
LEGACY_LIST = "eu.siacs.conversations.axolotl.devicelist"


def listed(cli, account, *contacts, store=None):
    """``omemo --json list`` as records; the run must succeed."""
    store_options = () if store is None else ("--omemo-store", str(store))
    finished = cli(account, "omemo", "--json", *store_options, "list", *contacts)
    assert finished.status == 0, finished.stderr
    return json_lines(finished.stdout)


async def test_list_shows_own_and_contacts_devices_with_fingerprints(accounts, cli) -> None:
    alice, bob = accounts(2)
    [bob_own] = listed(cli, bob)
    assert bob_own["this_device"] and bob_own["trust"] == "own" and bob_own["jid"] == bob.jid

    records = listed(cli, alice, bob.jid)

    [alice_own] = [record for record in records if record["jid"] == alice.jid]
    [bob_seen] = [record for record in records if record["jid"] == bob.jid]
    assert alice_own["this_device"]
    assert bob_seen["device"] == bob_own["device"]
    assert bob_seen["fingerprint"] == bob_own["fingerprint"]
    assert len(bob_seen["fingerprint"].split()) == 8
    assert bob_seen["trust"] == "undecided" and bob_seen["listed"]
    readable = cli(alice, "omemo", "list", bob.jid)
    assert f"{bob_own['device']:>10}  {bob_own['fingerprint']}  undecided" in readable.stdout


async def test_trust_and_distrust_are_kept_for_later_runs(accounts, cli, tmp_path) -> None:
    alice, bob = accounts(2)
    [bob_own] = listed(cli, bob)
    device = str(bob_own["device"])

    trusted = cli(alice, "omemo", "trust", bob.jid, device)
    assert trusted.status == 0, trusted.stderr
    assert f"trusted: device {device} of {bob.jid} ({bob_own['fingerprint']})" in trusted.stdout
    [bob_seen] = [r for r in listed(cli, alice, bob.jid) if r["jid"] == bob.jid]
    assert bob_seen["trust"] == "trusted"

    distrusted = cli(alice, "omemo", "distrust", bob.jid, device)
    assert distrusted.status == 0, distrusted.stderr
    [bob_seen] = [r for r in listed(cli, alice, bob.jid) if r["jid"] == bob.jid]
    assert bob_seen["trust"] == "distrusted"

    # A send from the same store now finds no device of bob's to seal the key for.
    receiver = cli.start(bob, "receive", "--mkdir", "--dir", str(tmp_path / "in"), resource="r")
    source = tmp_path / "a.bin"
    write_random_file(source, 100)
    refused = cli(alice, "send", "--to", f"{bob.jid}/r", "--encrypt", "omemo", str(source))
    assert refused.status == 1
    assert f"{bob.jid} has no trusted legacy-OMEMO" in refused.stderr
    assert receiver.stop().status == 0


async def test_trusting_an_unknown_device_fails(accounts, cli) -> None:
    alice, bob = accounts(2)
    listed(cli, bob)

    failed = cli(alice, "omemo", "trust", bob.jid, "12345")

    assert failed.status == 1
    assert f"error: {bob.jid} has no OMEMO device 12345" in failed.stderr


async def test_remove_takes_an_old_own_device_off_the_lists(
    accounts, cli, client_factory, tmp_path
) -> None:
    (alice,) = accounts(1)
    [old] = [r for r in listed(cli, alice, store=tmp_path / "old.json")]
    [current, _] = sorted(listed(cli, alice), key=lambda record: not record["this_device"])
    assert current["this_device"] and current["device"] != old["device"]
    observer = await client_factory(alice, "observer", ["xep_0060"])
    before = await published_devices(observer, alice.jid)
    assert before[LEGACY_LIST] == {old["device"], current["device"]}

    removed = cli(alice, "omemo", "remove", str(old["device"]))
    assert removed.status == 0, removed.stderr
    assert f"removed: device {old['device']}" in removed.stdout
    after = await published_devices(observer, alice.jid)
    assert after == {node: {current["device"]} for node in after}

    refused = cli(alice, "omemo", "remove", str(current["device"]))
    assert refused.status == 1
    assert f"device {current['device']} is this client's own" in refused.stderr


async def test_omemo_waits_for_no_one_while_the_store_is_in_use(accounts, cli, tmp_path):
    (alice,) = accounts(1)
    receiver = cli.start(alice, "receive", "--mkdir", "--dir", str(tmp_path / "in"), resource="r")

    refused = cli(alice, "omemo", "list")

    assert refused.status == 2
    assert "is in use by another slixmpp-jet run" in refused.stderr
    assert "stop it first" in refused.stderr
    assert receiver.stop().status == 0
