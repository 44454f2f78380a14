"""The stream's parser is renewed between stanzas: fresh names do not pile up, nothing is lost.

Each distinct element or attribute name a stanza brings stays in the XML parser for as long as
the parser lives. These tests send the client stanzas full of fresh names through the real
Prosody and check that what it keeps stays bounded once its parser is renewed, that every
stanza still arrives whole, and that a transfer running across many renewals is intact.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import pytest
from ft_helpers import Receiver, make_file
from slixmpp import ClientXMPP

from slixmpp_jet.testing.clients import connect, disconnect, make_client

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]
MiB = 1024 * 1024


def fresh_names_message(to: str, index: int) -> str:
    """A message whose payload brings four names no earlier stanza had."""
    return (
        f"<message to='{to}' id='m{index}'><body>{index}</body>"
        f"<p{index} xmlns='urn:example:fresh:{index}' a{index}='{index}'><c{index}/></p{index}>"
        "</message>"
    )


class Inbox:
    """The payloads ``client`` receives: (namespace, attribute, child tag) per message id."""

    def __init__(self, client: ClientXMPP) -> None:
        self.payloads: dict[str, tuple[str, str | None, str]] = {}
        self.arrived = asyncio.Event()
        self.expected = 0
        client.add_event_handler("message", self._on_message)

    def _on_message(self, message: object) -> None:
        xml = message.xml  # type: ignore[attr-defined]
        for payload in xml:
            if "fresh" in payload.tag:
                index = xml.get("id")[1:]
                child = payload[0].tag if len(payload) else ""
                self.payloads[index] = (payload.tag, payload.get(f"a{index}"), child)
        if len(self.payloads) >= self.expected:
            self.arrived.set()

    async def wait_for(self, count: int) -> None:
        self.expected = count
        if len(self.payloads) < count:
            await asyncio.wait_for(self.arrived.wait(), 120)


async def jingle_client(prosody, account, resource: str, **jingle_config) -> ClientXMPP:
    client = make_client(prosody, account, resource)
    client.register_plugin("xep_0166", jingle_config)
    client.register_plugin("xep_0234")
    await connect(client, prosody)
    return client


async def traced_growth(sender: ClientXMPP, receiver: ClientXMPP, first: int, count: int) -> int:
    """Bytes the process holds more after ``receiver`` got ``count`` fresh-name messages."""
    inbox = Inbox(receiver)
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    for index in range(first, first + count):
        sender.send_raw(fresh_names_message(receiver.boundjid.full, index))
    await inbox.wait_for(count)
    inbox.payloads.clear()
    gc.collect()
    return tracemalloc.get_traced_memory()[0] - before


async def test_fresh_names_do_not_pile_up_in_the_parser(prosody, accounts) -> None:
    """3,000 messages with four fresh names each: a client without renewal keeps about a
    megabyte more; one with renewal keeps less than a quarter of that."""
    sender_account, renewed_account, plain_account = accounts(3)
    sender = make_client(prosody, sender_account, "sender")
    await connect(sender, prosody)
    renewed = await jingle_client(prosody, renewed_account, "renewed")
    # every 16 KiB, so that the live parser's share stays far below the bound at any moment
    renewed.plugin["xep_0166"].parser_renewal.renew_after = 16 * 1024
    unrenewed = await jingle_client(prosody, plain_account, "plain", stream_guard=False)
    tracemalloc.start()
    try:
        kept_without = await traced_growth(sender, unrenewed, 0, 3000)
        kept_with = await traced_growth(sender, renewed, 3000, 3000)
    finally:
        tracemalloc.stop()
        for client in (sender, renewed, unrenewed):
            await disconnect(client)
    assert renewed.plugin["xep_0166"].parser_renewal.renewals >= 1
    assert kept_without > MiB
    assert kept_with < kept_without / 4


async def test_every_stanza_arrives_whole_across_renewals(prosody, accounts) -> None:
    """Renewing every 2 KiB (dozens of times), each message keeps its namespace, attribute
    and child, and the client still answers an IQ."""
    sender_account, receiver_account = accounts(2)
    sender = make_client(prosody, sender_account, "sender", ["xep_0030"])
    await connect(sender, prosody)
    receiver = await jingle_client(prosody, receiver_account, "receiver")
    renewal = receiver.plugin["xep_0166"].parser_renewal
    renewal.renew_after = 2048
    inbox = Inbox(receiver)
    try:
        for index in range(1000):
            sender.send_raw(fresh_names_message(receiver.boundjid.full, index))
        await inbox.wait_for(1000)
        info = await sender.plugin["xep_0030"].get_info(jid=receiver.boundjid.full, timeout=10)
    finally:
        await disconnect(sender)
        await disconnect(receiver)
    assert renewal.renewals >= 10
    assert inbox.payloads == {
        str(i): (f"{{urn:example:fresh:{i}}}p{i}", str(i), f"{{urn:example:fresh:{i}}}c{i}")
        for i in range(1000)
    }
    assert "urn:xmpp:jingle:1" in info["disco_info"]["features"]


async def test_an_ibb_transfer_across_renewals_is_intact(prosody, accounts, dirs) -> None:
    """Both ends renew every 4 KiB while 2 MiB go over IBB, i.e. in the middle of the flow of
    data stanzas and their acknowledgements."""
    outbox, inbox = dirs
    alice_account, bob_account = accounts(2)
    alice = await jingle_client(prosody, alice_account, "alice")
    bob = await jingle_client(prosody, bob_account, "bob")
    for client in (alice, bob):
        client.plugin["xep_0166"].parser_renewal.renew_after = 4096
    source = make_file(outbox, "data.bin", 2 * MiB)
    try:
        receiver = Receiver(bob, inbox)
        sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, transport="ibb")
        sent_result, received = await asyncio.gather(sent, await receiver.next_transfer(120))
    finally:
        await disconnect(alice)
        await disconnect(bob)
    assert received.sha256 == sent_result.sha256
    assert (inbox / "data.bin").read_bytes() == source.read_bytes()
    assert bob.plugin["xep_0166"].parser_renewal.renewals > 10
    assert alice.plugin["xep_0166"].parser_renewal.renewals > 10
