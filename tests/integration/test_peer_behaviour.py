"""How deployed peers behave on the wire, emulated with our own sender (research/peers.md §4).

* Conversations ≥ 2.13 keeps the SOCKS5 socket open until session-terminate: the receiver must
  count bytes, never wait for EOF.
* Libervia sends its checksum as Base64 of the hex digest.
* Conversations hashes the ciphertext of encrypted transfers: the GCM tag decides, not the hash.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import pytest_asyncio
from ft_helpers import Receiver, make_file
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from slixmpp_jet.file_transfer import job as job_module
from slixmpp_jet.file_transfer import plugin as plugin_module
from slixmpp_jet.file_transfer.serving import describe_file
from slixmpp_jet.file_transfer.stanza import NS_FT
from slixmpp_jet.jet import omemo_plugin
from slixmpp_jet.testing.clients import connect, connect_with_omemo, disconnect, make_client

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]


@pytest_asyncio.fixture
async def pair(prosody, accounts):
    made = []
    for account, resource in zip(accounts(2), "ab", strict=True):
        client = make_client(prosody, account, resource)
        client.register_plugin("xep_0384", module=omemo_plugin)
        client.register_plugin("xep_0260", {"use_proxy": False})
        client.register_plugin("xep_0234")
        await connect_with_omemo(client, prosody)
        made.append(client)
    yield made
    for client in made:
        await disconnect(client)


@pytest.mark.parametrize("encrypt", [None, "omemo"], ids=["plain", "omemo"])
async def test_receiver_does_not_need_eof(pair, dirs, encrypt, monkeypatch) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    held_open = []

    async def send_without_eof(stream, source, digest, on_chunk):
        while chunk := source.read(65536):
            digest(chunk)
            await stream.write(chunk)
            on_chunk(len(chunk))
        if encrypt:
            # the tag is written by close(); write it, but keep the socket open
            inner = stream._inner
            stream._encryptor.finalize()
            await inner.write(stream._encryptor.tag)
            stream = inner
        held_open.append(stream)

    monkeypatch.setattr(job_module, "send_from_file", send_without_eof)
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "open.bin", 3 * 1024 * 1024)
    sent = await alice.plugin["xep_0234"].send_file(
        bob.boundjid, source, encrypt=encrypt, transport="s5b"
    )
    results = await asyncio.gather(sent, await receiver.next_transfer())
    assert held_open, "the sender kept its stream open"
    assert all(result.transport.endswith("s5b:1") for result in results)
    assert (inbox / "open.bin").read_bytes() == source.read_bytes()


def checksum_of(creator, name, algo, text):
    checksum = ET.Element(f"{{{NS_FT}}}checksum", creator=creator, name=name)
    file = ET.SubElement(checksum, f"{{{NS_FT}}}file")
    ET.SubElement(file, "{urn:xmpp:hashes:2}hash", algo=algo).text = text
    return checksum


async def test_libervia_hex_checksum_verifies(pair, dirs, monkeypatch) -> None:
    alice, bob = pair
    outbox, inbox = dirs

    def libervia_checksum(creator, name, hashes, *_):
        hex_text = hashes["sha-256"].hex().encode()
        return checksum_of(creator, name, "sha-256", base64.b64encode(hex_text).decode())

    monkeypatch.setattr(job_module, "build_checksum", libervia_checksum)
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "hex.bin", 10_000)
    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, transport="ibb")
    _, received = await asyncio.gather(sent, await receiver.next_transfer())
    assert received.hash_verified


def watch_jingle(client) -> list[ET.Element]:
    """Every Jingle IQ ``client`` receives, kept as it arrives."""
    seen: list[ET.Element] = []
    client.register_handler(
        Callback(
            "watch",
            MatchXPath("{jabber:client}iq/{urn:xmpp:jingle:1}jingle"),
            lambda iq: seen.append(iq.xml),
        )
    )
    return seen


@pytest.mark.parametrize("transport", ["s5b", "ibb"])
async def test_an_encrypted_file_leaves_no_hash_or_description_in_the_clear(
    pair, dirs, transport
) -> None:
    """Conversations hashes the ciphertext and Dino sends no checksum: the GCM tag is what
    authenticates an encrypted file. We send no checksum and no hash value for one (only
    <hash-used/>, the algorithm, which Libervia requires), so a server on the path cannot
    confirm which known file went by."""
    alice, bob = pair
    outbox, inbox = dirs
    seen = watch_jingle(bob)
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "gcm.bin", 10_000)
    sent = await alice.plugin["xep_0234"].send_file(
        bob.boundjid, source, encrypt="omemo", transport=transport
    )
    sent_result, received = await asyncio.gather(sent, await receiver.next_transfer())
    assert (inbox / "gcm.bin").read_bytes() == source.read_bytes()
    assert received.security.envelope == "omemo"
    assert sent_result.hash_verified  # the receiver confirmed with <success/> after its checks
    assert not received.hash_verified  # no checksum came: the GCM tag did the verifying
    digest = hashlib.sha256(source.read_bytes()).digest()
    for iq in seen:
        text = ET.tostring(iq)
        assert iq.find(f".//{{{NS_FT}}}checksum") is None
        assert iq.find(".//{urn:xmpp:hashes:2}hash") is None
        assert all(not desc.text for desc in iq.iter(f"{{{NS_FT}}}desc"))  # empty, for Libervia
        assert base64.b64encode(digest) not in text and digest.hex().encode() not in text
    actions = [iq.find("{urn:xmpp:jingle:1}jingle").get("action") for iq in seen]
    assert "session-initiate" in actions  # the watch saw what alice sent


async def test_an_encrypted_offer_refuses_a_description() -> None:
    with pytest.raises(ValueError, match="in the clear"):
        describe_file(Path(__file__), desc="the merger terms", encrypted=True)


async def test_hex_checksum_option_for_libervia_peers(pair, dirs) -> None:
    alice, bob = pair
    outbox, inbox = dirs
    alice.plugin["xep_0234"].use_hex_checksum(bob.boundjid.bare)
    checksums = []

    def watch(iq) -> None:
        hashes = iq.xml.findall(f".//{{{NS_FT}}}checksum/{{{NS_FT}}}file/{{urn:xmpp:hashes:2}}hash")
        checksums.extend(element.text for element in hashes)

    bob.register_handler(
        Callback("watch", MatchXPath("{jabber:client}iq/{urn:xmpp:jingle:1}jingle"), watch)
    )
    receiver = Receiver(bob, inbox)
    source = make_file(outbox, "hex.bin", 10_000)
    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, transport="ibb")
    _, received = await asyncio.gather(sent, await receiver.next_transfer())
    assert received.hash_verified
    (text,) = checksums
    assert base64.b64decode(text).decode() == received.sha256


@pytest.mark.parametrize("software", ["Libervia", "Dino"])
async def test_a_peers_known_quirks_are_chosen_from_the_software_it_reports(
    pair, dirs, software
) -> None:
    """XEP-0092: a peer reporting Libervia gets the hex-digest checksum (plaintext files) and
    the OMEMO message-with-payload form it can decrypt; anyone else the standard forms."""
    alice, bob = pair
    bob.register_plugin("xep_0092", {"software_name": software, "version": "0.9"})
    outbox, inbox = dirs
    seen = watch_jingle(bob)
    receiver = Receiver(bob, inbox)
    files = [make_file(outbox, "plain.bin", 5000), make_file(outbox, "sealed.bin", 5000)]

    for source, encrypt in zip(files, [None, "omemo"], strict=True):
        sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, source, encrypt=encrypt)
        await asyncio.gather(sent, await receiver.next_transfer())

    libervia = software == "Libervia"
    digest = hashlib.sha256(files[0].read_bytes())
    [checksum] = [h for iq in seen for h in iq.iter("{urn:xmpp:hashes:2}hash")]
    hex_form = base64.b64encode(digest.hexdigest().encode()).decode()
    standard = base64.b64encode(digest.digest()).decode()
    assert checksum.text == (hex_form if libervia else standard)
    payloads = [p for iq in seen for p in iq.iter("{eu.siacs.conversations.axolotl}payload")]
    assert bool(payloads) == libervia


async def test_the_clients_asked_for_their_software_are_bounded(
    pair, prosody, accounts, dirs, monkeypatch
) -> None:
    """Each client is asked once (XEP-0092), and only the most recent ones are remembered:
    with room for one, sending to bob, bob, carol, bob asks bob twice."""
    monkeypatch.setattr(plugin_module, "SOFTWARE_ASKED_MAX", 1)
    alice, bob = pair
    (carol_account,) = accounts(1)
    carol = make_client(prosody, carol_account, "c", ["xep_0234"])
    await connect(carol, prosody)
    asked: list[str] = []
    bob.register_handler(
        Callback(
            "version asked",
            MatchXPath("{jabber:client}iq/{jabber:iq:version}query"),
            lambda iq: asked.append(iq["type"]),
        )
    )
    outbox, inbox = dirs
    source = make_file(outbox, "small.bin", 1000)
    receivers = {bob: Receiver(bob, inbox), carol: Receiver(carol, inbox)}
    counts = []
    try:
        for peer in (bob, bob, carol, bob):
            sent = await alice.plugin["xep_0234"].send_file(peer.boundjid, source)
            await asyncio.gather(sent, await receivers[peer].next_transfer())
            (inbox / "small.bin").unlink()
            counts.append(len(asked))
    finally:
        await disconnect(carol)
    assert counts == [1, 1, 1, 2]
