"""Whole transfers over SOCKS5 (direct, proxied) and the fallback to IBB, on a real Prosody."""

from __future__ import annotations

import asyncio
import tracemalloc

import pytest
import pytest_asyncio
from ft_helpers import Receiver, leftovers, make_file

from slixmpp_jet import JetError, Reason, TransferError
from slixmpp_jet.file_transfer import channel as channel_module
from slixmpp_jet.testing.clients import connect, disconnect, make_client
from slixmpp_jet.testing.prosody import PROXY_JID, free_port
from slixmpp_jet.transports.s5b import StreamHost

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]
S5B = "urn:xmpp:jingle:transports:s5b:1"
IBB = "urn:xmpp:jingle:transports:ibb:1"
MIB = 1024 * 1024
DIRECT_ONLY = {"use_proxy": False}
PROXY_ONLY = {"direct": False}


@pytest_asyncio.fixture
async def configured(prosody, accounts):
    """``await configured(s5b_config)``: connected alice and bob with that SOCKS5 config."""
    made = []

    async def create(s5b_config):
        result = []
        for account, resource in zip(accounts(2), "ab", strict=True):
            client = make_client(prosody, account, resource)
            client.register_plugin("xep_0260", dict(s5b_config))
            client.register_plugin("xep_0234")
            made.append(client)
            await connect(client, prosody)
            result.append(client)
        return result

    yield create
    for client in made:
        await disconnect(client)


async def offer(alice, bob, source, inbox, **options):
    receiver = Receiver(bob, inbox)
    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, **options)
    return await asyncio.gather(sent, await receiver.next_transfer(60))


@pytest.mark.parametrize("config", [DIRECT_ONLY, PROXY_ONLY], ids=["direct", "proxy"])
async def test_offer_of_20_mib(configured, dirs, config) -> None:
    alice, bob = await configured(config)
    outbox, inbox = dirs
    source = make_file(outbox, "big.bin", 20 * MIB)
    sent, received = await offer(alice, bob, source, inbox, transport="s5b")
    assert sent.transport == received.transport == S5B
    assert received.sha256 == sent.sha256
    assert (inbox / "big.bin").read_bytes() == source.read_bytes()


@pytest.mark.parametrize("config", [DIRECT_ONLY, PROXY_ONLY], ids=["direct", "proxy"])
async def test_request_of_20_mib(configured, dirs, config) -> None:
    alice, bob = await configured(config)
    outbox, inbox = dirs
    source = make_file(outbox, "big.bin", 20 * MIB)
    bob.plugin["xep_0234"].serve(outbox)
    transfer = await alice.plugin["xep_0234"].request_file(
        bob.boundjid, inbox, name="big.bin", transport="s5b"
    )
    result = await transfer
    assert result.transport == S5B
    assert (inbox / "big.bin").read_bytes() == source.read_bytes()


def unusable_proxy():
    return {"direct": False, "proxies": [StreamHost(PROXY_JID, "127.0.0.1", free_port())]}


async def test_falls_back_to_ibb_when_no_socks5_path_works(configured, dirs) -> None:
    alice, bob = await configured(unusable_proxy())
    outbox, inbox = dirs
    source = make_file(outbox, "fallback.bin", MIB)
    sent, received = await offer(alice, bob, source, inbox)
    assert sent.transport == received.transport == IBB
    assert (inbox / "fallback.bin").read_bytes() == source.read_bytes()


async def test_request_falls_back_to_ibb(configured, dirs) -> None:
    alice, bob = await configured(unusable_proxy())
    outbox, inbox = dirs
    source = make_file(outbox, "fallback.bin", 300_000)
    bob.plugin["xep_0234"].serve(outbox)
    result = await (
        await alice.plugin["xep_0234"].request_file(bob.boundjid, inbox, name="fallback.bin")
    )
    assert result.transport == IBB
    assert (inbox / "fallback.bin").read_bytes() == source.read_bytes()


async def test_rejected_fallback_ends_with_failed_transport(configured, dirs, monkeypatch) -> None:
    alice, bob = await configured(unusable_proxy())
    outbox, inbox = dirs

    async def unknown_transport(channel, remote):
        return "urn:example:transport-bob-lacks"  # bob answers with transport-reject

    monkeypatch.setattr(channel_module.ContentChannel, "receive_proposal", unknown_transport)
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "stuck.bin", 1000)
    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source)
    received = await receiver.next_transfer()
    with pytest.raises(JetError) as sender_error:
        await sent
    assert sender_error.value.reason is Reason.FAILED_TRANSPORT
    with pytest.raises(TransferError, match="failed-transport"):
        await received
    assert leftovers(inbox) == []


async def test_ten_concurrent_socks5_transfers(configured, dirs) -> None:
    alice, bob = await configured(DIRECT_ONLY)
    outbox, inbox = dirs
    receiver = Receiver(bob, inbox)
    sources = [make_file(outbox, f"file{i}.bin", MIB + i) for i in range(10)]
    sending = await asyncio.gather(
        *(alice.plugin["xep_0234"].send_file(bob.boundjid, s, transport="s5b") for s in sources)
    )
    receiving = [await receiver.next_transfer() for _ in sources]
    results = await asyncio.gather(*sending, *receiving)
    assert all(result.transport == S5B for result in results)
    for source in sources:
        assert (inbox / source.name).read_bytes() == source.read_bytes()


async def test_memory_stays_flat_whatever_the_file_size(configured, dirs) -> None:
    """Both ends in this process move 64 MiB while Python holds a few MiB at most."""
    alice, bob = await configured(DIRECT_ONLY)
    outbox, inbox = dirs
    source = make_file(outbox, "large.bin", 64 * MIB)
    tracemalloc.start()
    try:
        await offer(alice, bob, source, inbox, transport="s5b")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB, f"peak {peak / MIB:.1f} MiB"
    assert (inbox / "large.bin").stat().st_size == 64 * MIB
