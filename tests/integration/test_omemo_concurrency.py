"""JET-OMEMO under concurrency: many envelopes and transfers at once, between real OMEMO
devices that have no session yet, on the real Prosody.

Every test starts from fresh accounts, so the first envelopes all need a key exchange: exactly
one may happen per pair of devices, or the receiver meets pre-keys it already used up.
"""

from __future__ import annotations

import asyncio
import os

import pytest
import pytest_asyncio
from ft_helpers import Receiver, make_file

from slixmpp_jet.jet import omemo_plugin
from slixmpp_jet.jet.envelope import EnvelopeContext, TransportSecret
from slixmpp_jet.jet.omemo import OmemoEnvelope
from slixmpp_jet.testing.clients import connect_with_omemo, disconnect, make_client

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]

TRANSFERS = 100
SENDERS = 5
TRANSFERS_PER_SENDER = 20
REQUESTS = 20


@pytest_asyncio.fixture
async def jet_client(prosody):
    """``await jet_client(account, resource)``: connected, with xep_0234 and OMEMO ready."""
    clients = []

    async def create(account, resource="jet"):
        client = make_client(prosody, account, resource)
        clients.append(client)
        client.register_plugin("xep_0384", module=omemo_plugin)
        client.register_plugin("xep_0234")
        await connect_with_omemo(client, prosody)
        return client

    yield create
    for client in clients:
        await disconnect(client)


def context(sid, sender, recipient) -> EnvelopeContext:
    return EnvelopeContext(sid=sid, sender=str(sender.boundjid), recipient=str(recipient.boundjid))


async def test_envelopes_sealed_at_once_all_open_at_once(accounts, jet_client) -> None:
    alice_account, bob_account = accounts(2)
    alice, bob = await asyncio.gather(jet_client(alice_account), jet_client(bob_account))
    secrets = [TransportSecret(os.urandom(16), os.urandom(12)) for _ in range(TRANSFERS)]
    contexts = [context(f"s{index}", alice, bob) for index in range(TRANSFERS)]

    sealed = await asyncio.gather(
        *(OmemoEnvelope(alice).seal(s, c) for s, c in zip(secrets, contexts, strict=True))
    )
    opened = await asyncio.gather(
        *(OmemoEnvelope(bob).open(e, c) for e, c in zip(sealed, contexts, strict=True)),
        return_exceptions=True,
    )

    failures = [repr(result) for result in opened if isinstance(result, BaseException)]
    assert failures == []
    assert [result.secret for result in opened] == secrets


async def test_many_encrypted_offers_at_once_all_verify(accounts, jet_client, tmp_path) -> None:
    alice_account, bob_account = accounts(2)
    alice, bob = await asyncio.gather(jet_client(alice_account), jet_client(bob_account))
    outbox, inbox = tmp_path / "out", tmp_path / "in"
    outbox.mkdir()
    inbox.mkdir()
    sources = [make_file(outbox, f"file-{index}.bin", 2000 + index) for index in range(TRANSFERS)]
    receiver = Receiver(bob, inbox)
    file_transfer = alice.plugin["xep_0234"]

    sent = await asyncio.gather(
        *(file_transfer.send_file(bob.boundjid, source, encrypt="omemo") for source in sources)
    )
    results = await asyncio.gather(*sent, return_exceptions=True)

    failures = [repr(result) for result in results if isinstance(result, BaseException)]
    assert failures == []
    received = [await receiver.next_transfer() for _ in sources]
    received_results = await asyncio.gather(*received, return_exceptions=True)
    assert [r for r in received_results if isinstance(r, BaseException)] == []
    for source in sources:
        assert (inbox / source.name).read_bytes() == source.read_bytes()
    assert {result.security.envelope for result in results} == {"omemo"}


async def test_several_senders_to_one_receiver_all_verify(accounts, jet_client, tmp_path) -> None:
    bob_account, *sender_accounts = accounts(1 + SENDERS)
    bob = await jet_client(bob_account)
    senders = await asyncio.gather(*(jet_client(account) for account in sender_accounts))
    inbox = tmp_path / "in"
    inbox.mkdir()
    receiver = Receiver(bob, inbox)
    sources = {}
    for number, sender in enumerate(senders):
        outbox = tmp_path / f"out-{number}"
        outbox.mkdir()
        sources[sender] = [
            make_file(outbox, f"from-{number}-{index}.bin", 1500 + index)
            for index in range(TRANSFERS_PER_SENDER)
        ]

    sent = await asyncio.gather(
        *(
            sender.plugin["xep_0234"].send_file(bob.boundjid, source, encrypt="omemo")
            for sender, files in sources.items()
            for source in files
        )
    )
    results = await asyncio.gather(*sent, return_exceptions=True)

    assert [repr(result) for result in results if isinstance(result, BaseException)] == []
    for _ in range(SENDERS * TRANSFERS_PER_SENDER):
        await (await receiver.next_transfer())
    for files in sources.values():
        for source in files:
            assert (inbox / source.name).read_bytes() == source.read_bytes()


async def test_many_encrypted_requests_at_once_all_verify(accounts, jet_client, tmp_path) -> None:
    alice_account, bob_account = accounts(2)
    alice, bob = await asyncio.gather(jet_client(alice_account), jet_client(bob_account))
    served, inbox = tmp_path / "served", tmp_path / "in"
    served.mkdir()
    inbox.mkdir()
    sources = [make_file(served, f"served-{index}.bin", 3000 + index) for index in range(REQUESTS)]
    bob.plugin["xep_0234"].serve(served)
    file_transfer = alice.plugin["xep_0234"]

    transfers = await asyncio.gather(
        *(
            file_transfer.request_file(bob.boundjid, inbox, name=source.name, encrypt="omemo")
            for source in sources
        )
    )
    results = await asyncio.gather(*transfers, return_exceptions=True)

    assert [repr(result) for result in results if isinstance(result, BaseException)] == []
    for source in sources:
        assert (inbox / source.name).read_bytes() == source.read_bytes()
