"""JET-OMEMO under concurrency: many envelopes and transfers at once, between real OMEMO
devices that have no session yet, on the real Prosody.

Every test starts from fresh accounts, so the first envelopes all need a key exchange: exactly
one may happen per pair of devices, or the receiver meets pre-keys it already used up.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict

import oldmemo.etree
import pytest
from ft_helpers import Receiver, make_file

from slixmpp_jet.errors import EnvelopeError
from slixmpp_jet.jet.envelope import EnvelopeContext, TransportSecret
from slixmpp_jet.jet.omemo import OmemoEnvelope
from slixmpp_jet.testing.clients import disconnect

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]

TRANSFERS = 100
SENDERS = 5
TRANSFERS_PER_SENDER = 20
REQUESTS = 20


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


async def pre_key_of(manager, element, sender, recipient) -> int:
    """The id of ``recipient``'s pre-key that the key exchange in ``element`` uses."""
    message = await oldmemo.etree.parse_message(
        element, sender.boundjid.bare, recipient.boundjid.bare, manager
    )
    [(_, exchange)] = message.keys
    return exchange.pre_key_id


async def colliding_envelopes(accounts, jet_client, bob, batch=8, most=64):
    """Envelopes for ``bob`` sealed by new senders, one each, until two senders picked the same
    pre-key of bob's (bob opens none meanwhile, so all pick from one bundle). Returns
    ``(sender, context, secret, envelope)`` for each, and the senders' pre-key ids."""
    manager = await bob.plugin["xep_0384"].get_session_manager()
    sealed, by_pre_key = [], defaultdict(list)
    while len(sealed) < most and all(len(users) < 2 for users in by_pre_key.values()):
        senders = await asyncio.gather(*(jet_client(account) for account in accounts(batch)))
        for sender in senders:
            secret = TransportSecret(os.urandom(16), os.urandom(12))
            envelope_context = context(f"s{len(sealed)}", sender, bob)
            element = await OmemoEnvelope(sender).seal(secret, envelope_context)
            by_pre_key[await pre_key_of(manager, element, sender, bob)].append(len(sealed))
            sealed.append((sender, envelope_context, secret, element))
    twice = [users for users in by_pre_key.values() if len(users) > 1]
    assert twice, f"{len(sealed)} senders never picked the same pre-key: try more"
    return sealed, twice


async def test_senders_that_picked_the_same_pre_key_all_get_through(accounts, jet_client):
    (bob_account,) = accounts(1)
    bob = await jet_client(bob_account)
    sealed, _ = await colliding_envelopes(accounts, jet_client, bob)

    opened = await asyncio.gather(
        *(OmemoEnvelope(bob).open(element, ctx) for _, ctx, _, element in sealed),
        return_exceptions=True,
    )

    assert [repr(result) for result in opened if isinstance(result, BaseException)] == []
    assert [result.secret for result in opened] == [secret for _, _, secret, _ in sealed]


async def test_used_pre_keys_are_deleted_once_forgotten(accounts, jet_client):
    (bob_account,) = accounts(1)
    bob = await jet_client(bob_account)
    sealed, twice = await colliding_envelopes(accounts, jet_client, bob)
    first, second = twice[0][:2]
    bob_envelope = OmemoEnvelope(bob)

    _, first_context, first_secret, first_element = sealed[first]
    assert (await bob_envelope.open(first_element, first_context)).secret == first_secret
    manager = await bob.plugin["xep_0384"].get_session_manager()
    await manager.forget_used_pre_keys()

    _, second_context, _, second_element = sealed[second]
    with pytest.raises(EnvelopeError, match="No pre key with id"):
        await bob_envelope.open(second_element, second_context)


async def published_pre_key_ids(client, owner) -> set[int]:
    """The ids of the pre-keys in ``owner``'s published legacy-OMEMO bundle."""
    manager = await owner.plugin["xep_0384"].get_session_manager()
    own, _ = await manager.get_own_device_information()
    node = f"eu.siacs.conversations.axolotl.bundles:{own.device_id}"
    result = await client.plugin["xep_0060"].get_items(owner.boundjid.bare, node, max_items=1)
    [item] = result["pubsub"]["items"]
    bundle = oldmemo.etree.parse_bundle(next(iter(item.xml)), own.bare_jid, own.device_id)
    return set(bundle.pre_key_ids.values())


async def test_used_pre_keys_leave_the_bundle_a_grace_after_the_last_key_exchange(
    accounts, jet_client
) -> None:
    alice_account, bob_account = accounts(2)
    alice, bob = await asyncio.gather(
        jet_client(alice_account), jet_client(bob_account, pre_key_grace=0.2)
    )
    secret = TransportSecret(os.urandom(16), os.urandom(12))
    envelope_context = context("s1", alice, bob)
    element = await OmemoEnvelope(alice).seal(secret, envelope_context)
    bob_manager = await bob.plugin["xep_0384"].get_session_manager()
    used = await pre_key_of(bob_manager, element, alice, bob)
    assert used in await published_pre_key_ids(alice, bob)

    assert (await OmemoEnvelope(bob).open(element, envelope_context)).secret == secret

    async def until_gone() -> set[int]:
        while used in (published := await published_pre_key_ids(alice, bob)):
            await asyncio.sleep(0.1)
        return published

    published = await asyncio.wait_for(until_gone(), 15)
    assert len(published) == 100  # refilled
    await bob_manager.shutdown()  # waits for the deletion to end before the test does


async def test_pre_keys_kept_when_a_run_ends_are_deleted_at_the_next_start(
    accounts, jet_client, tmp_path
) -> None:
    alice_account, bob_account = accounts(2)
    store = tmp_path / "bob-omemo.json"
    alice, bob = await asyncio.gather(
        jet_client(alice_account), jet_client(bob_account, "one", storage_path=str(store))
    )
    secret = TransportSecret(os.urandom(16), os.urandom(12))
    envelope_context = context("s1", alice, bob)
    element = await OmemoEnvelope(alice).seal(secret, envelope_context)
    used = await pre_key_of(await bob.plugin["xep_0384"].get_session_manager(), element, alice, bob)
    assert (await OmemoEnvelope(bob).open(element, envelope_context)).secret == secret
    await disconnect(bob)  # well within the grace: the pre-key is still kept
    assert used in await published_pre_key_ids(alice, bob)

    bob_again = await jet_client(bob_account, "two", storage_path=str(store))

    published = await published_pre_key_ids(alice, bob_again)
    assert used not in published
    assert len(published) == 100


class OutgoingQueries:
    """The namespaces of every ``<iq type='get'>`` query a client sends (a stream filter)."""

    def __init__(self, client) -> None:
        self.seen: list[str] = []
        client.add_filter("out", self._record)

    def _record(self, stanza):
        if stanza.xml.tag.endswith("}iq") and stanza.xml.get("type") == "get":
            self.seen.extend(child.tag for child in stanza.xml)
        return stanza


async def test_a_warm_encrypted_offer_asks_for_no_device_list_or_features(
    accounts, jet_client, tmp_path
) -> None:
    alice_account, bob_account = accounts(2)
    alice, bob = await asyncio.gather(jet_client(alice_account), jet_client(bob_account))
    outbox, inbox = tmp_path / "out", tmp_path / "in"
    outbox.mkdir()
    inbox.mkdir()
    receiver = Receiver(bob, inbox)
    file_transfer = alice.plugin["xep_0234"]
    first, second = (make_file(outbox, name, 1000) for name in ("first.bin", "second.bin"))
    await (await file_transfer.send_file(bob.boundjid, first, encrypt="omemo"))
    await (await receiver.next_transfer())
    queries = OutgoingQueries(alice)

    await (await file_transfer.send_file(bob.boundjid, second, encrypt="omemo"))
    await (await receiver.next_transfer())

    assert "{http://jabber.org/protocol/disco#info}query" not in queries.seen
    assert "{http://jabber.org/protocol/pubsub}pubsub" not in queries.seen
    assert (inbox / "second.bin").read_bytes() == second.read_bytes()
