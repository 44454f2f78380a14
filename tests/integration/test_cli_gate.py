"""``receive`` and ``serve`` as an unattended bot runs them: who gets in, how many, how large.

By default only roster contacts with a presence subscription get in (``accounts(n)`` makes
mutually subscribed contacts; an account made by a separate ``accounts(1)`` is a stranger);
``--from`` narrows that, ``--from '*'`` opens it. Everyone else is declined before anything of
their offer is read, reported as a ``refused`` line, and never counted.
"""

from __future__ import annotations

import asyncio
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from cli_helpers import json_lines
from raw_peer import (
    RawPeer,
    Socks5Candidate,
    direct_candidate,
    file_content,
    ibb_transport,
    jingle,
    new_sid,
    reason_of,
    s5b_transport,
)

from slixmpp_jet.file_transfer.stanza import NS_FT
from slixmpp_jet.jingle.stanza import NS as NS_JINGLE
from slixmpp_jet.testing.clients import connect, disconnect, make_client
from slixmpp_jet.testing.demo import write_random_file
from slixmpp_jet.testing.prosody import Account, ProsodyServer

pytestmark = pytest.mark.xmpp

TOO_MANY = "too many sessions at once from this account (at most 8)"


@pytest_asyncio.fixture
async def raw_peers(prosody: ProsodyServer) -> AsyncIterator[Callable[[Account], object]]:
    """``await raw_peers(account)``: a connected :class:`RawPeer`, disconnected after."""
    made: list[RawPeer] = []

    async def create(account: Account) -> RawPeer:
        peer = RawPeer(make_client(prosody, account, "raw"))
        made.append(peer)
        await connect(peer.client, prosody)
        return peer

    yield create
    for peer in made:
        await disconnect(peer.client)


def test_a_strangers_encrypted_offer_leaves_no_trace_by_default(
    accounts, cli, dirs, tmp_path
) -> None:
    bob, carol = accounts(2)
    [mallory] = accounts(1)  # in nobody's roster
    outbox, inbox = dirs
    write_random_file(outbox / "a.bin", 100)
    store = tmp_path / "bob-omemo.json"
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--count", "1",
                         "--omemo-store", str(store), "--json", resource="r")  # fmt: skip
    before = store.read_bytes()

    stranger = cli(mallory, "send", "--to", f"{bob.jid}/r", "--encrypt", "omemo",
                   str(outbox / "a.bin"))  # fmt: skip
    after_stranger, inbox_after_stranger = store.read_bytes(), list(inbox.iterdir())
    sent = cli(carol, "send", "--to", f"{bob.jid}/r", "--json", str(outbox / "a.bin"))
    received = receiver.finish()

    assert stranger.status == 1 and "not accepted from this account" in stranger.stderr
    assert after_stranger == before  # her envelope was never opened: no session, no device
    assert inbox_after_stranger == []
    assert sent.status == 0, sent.stderr
    assert received.status == 0, received.stderr  # the stranger did not use up --count 1
    refused, completed = json_lines(received.stdout)
    assert refused["outcome"] == "refused" and refused["peer"].startswith(f"{mallory.jid}/")
    assert refused["error"] == "files are not accepted from this account"
    assert completed["outcome"] == "completed" and completed["envelope"] == "omemo"
    assert "accepts files from contacts in the roster" in received.stderr
    assert [p.name for p in inbox.iterdir()] == ["a.bin"]


@pytest.mark.asyncio
async def test_a_strangers_malformed_offer_does_not_end_receive(
    accounts, cli, dirs, raw_peers
) -> None:
    bob, carol = accounts(2)
    [mallory] = accounts(1)
    outbox, inbox = dirs
    write_random_file(outbox / "a.bin", 1000)
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--count", "1", "--json",
                         "--encrypt", "none", resource="r")  # fmt: skip
    stranger = await raw_peers(mallory)
    to, sid = f"{bob.jid}/r", new_sid()

    two_files = jingle("session-initiate", sid, initiator=stranger.jid)
    for name in ("one.bin", "two.bin"):
        content = file_content(ibb_transport(new_sid()), name, 10)
        content.set("name", name)
        two_files.append(content)
    await stranger.send(to, two_files)
    terminate = await stranger.wait_for("session-terminate", sid)
    sent = await asyncio.to_thread(cli, carol, "send", "--to", to, "--encrypt", "none",
                                   str(outbox / "a.bin"))  # fmt: skip
    received = await asyncio.to_thread(receiver.finish)

    assert reason_of(terminate) == "decline"
    assert sent.status == 0, sent.stderr
    assert received.status == 0, received.stderr
    assert [r["outcome"] for r in json_lines(received.stdout)] == ["refused", "completed"]
    assert [p.name for p in inbox.iterdir()] == ["a.bin"]


def test_from_is_repeatable_and_narrows_even_contacts(accounts, cli, dirs) -> None:
    alice, bob, carol, dave = accounts(4)
    outbox, inbox = dirs
    write_random_file(outbox / "a.bin", 100)
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--count", "2", "--json",
                         "--from", alice.jid, "--from", f"{carol.jid}/c", "--encrypt", "none",
                         resource="r")  # fmt: skip
    send = ("send", "--to", f"{bob.jid}/r", "--encrypt", "none", str(outbox / "a.bin"))

    contact = cli(dave, *send)  # a contact, but not one of --from
    wrong_client = cli(carol, *send, resource="other")  # carol, from another client
    from_alice = cli(alice, *send)
    from_carol = cli(carol, *send, resource="c")
    received = receiver.finish()

    assert contact.status == 1 and wrong_client.status == 1
    assert from_alice.status == 0 and from_carol.status == 0
    assert received.status == 0, received.stderr
    outcomes = [(r["peer"].partition("/")[0], r["outcome"]) for r in json_lines(received.stdout)]
    assert outcomes == [(dave.jid, "refused"), (carol.jid, "refused"),
                        (alice.jid, "completed"), (carol.jid, "completed")]  # fmt: skip


def test_from_anyone_opens_receive_to_strangers(accounts, cli, dirs) -> None:
    [bob] = accounts(1)
    [mallory] = accounts(1)
    outbox, inbox = dirs
    write_random_file(outbox / "a.bin", 100)
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--count", "1", "--from", "*",
                         "--encrypt", "none", resource="r")  # fmt: skip

    sent = cli(mallory, "send", "--to", f"{bob.jid}/r", "--encrypt", "none", str(outbox / "a.bin"))
    received = receiver.finish()

    assert sent.status == 0, sent.stderr
    assert received.status == 0, received.stderr
    assert "accepts files from anyone" in received.stderr
    assert [p.name for p in inbox.iterdir()] == ["a.bin"]


def test_from_anyone_cannot_be_mixed_with_jids(accounts, cli, dirs) -> None:
    [bob] = accounts(1)
    _, inbox = dirs

    mixed = cli(bob, "receive", "--dir", str(inbox), "--from", "*", "--from", "a@localhost")

    assert mixed.status == 2
    assert "cannot be combined" in mixed.stderr


def test_serve_answers_only_contacts_by_default(accounts, cli, tmp_path) -> None:
    bob, carol = accounts(2)
    [mallory] = accounts(1)
    served = tmp_path / "served"
    served.mkdir()
    write_random_file(served / "f.bin", 1000)
    server = cli.start(bob, "serve", "--dir", str(served), "--json", "--encrypt", "none",
                       resource="s")  # fmt: skip
    request = ("request", "--from", f"{bob.jid}/s", "--name", "f.bin", "--encrypt", "none")

    stranger = cli(mallory, *request, "--mkdir", "--dir", str(tmp_path / "mallory"))
    contact = cli(carol, *request, "--mkdir", "--dir", str(tmp_path / "carol"))
    stopped = server.stop()

    assert stranger.status == 1 and "not accepted from this account" in stranger.stderr
    assert not (tmp_path / "mallory" / "f.bin").exists()
    assert contact.status == 0, contact.stderr
    assert (tmp_path / "carol" / "f.bin").read_bytes() == (served / "f.bin").read_bytes()
    assert stopped.status == 0, stopped.stderr
    refused, sent = json_lines(stopped.stdout)
    assert refused["outcome"] == "refused" and refused["peer"].startswith(f"{mallory.jid}/")
    assert sent["outcome"] == "completed" and sent["peer"].startswith(f"{carol.jid}/")


# -- sizes -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_receive_refuses_unknown_and_over_4_gib_sizes_by_default(
    accounts, cli, dirs, raw_peers
) -> None:
    alice, bob = accounts(2)
    _, inbox = dirs
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--json", "--encrypt", "none",
                         resource="r")  # fmt: skip
    peer = await raw_peers(alice)
    to = f"{bob.jid}/r"

    huge, unsized = new_sid(), new_sid()
    await peer.initiate(to, huge, file_content(ibb_transport(new_sid()), "huge", 4 * 1024**3 + 1))
    await peer.initiate(to, unsized, file_content(ibb_transport(new_sid()), "unsized"))
    terminates = [await peer.wait_for("session-terminate", sid) for sid in (huge, unsized)]
    stopped = await asyncio.to_thread(receiver.stop)

    assert [reason_of(t) for t in terminates] == ["decline", "decline"]
    errors = [r["error"] for r in json_lines(stopped.stdout)]
    assert errors == [
        "files over 4294967296 bytes are refused",
        "files of unknown size are refused (at most 4294967296 bytes accepted)",
    ]
    assert stopped.status == 0  # refusals are not failures
    assert list(inbox.iterdir()) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("unknown_size", [False, True], ids=["refused", "cut-off"])
async def test_request_of_a_file_of_unannounced_size_keeps_nothing(
    accounts, cli, dirs, raw_peers, unknown_size
) -> None:
    """A serving peer that announces no size: refused, or with ``--unknown-size`` cut off at
    ``--max-size``; either way nothing is kept."""
    alice, bob = accounts(2)
    _, inbox = dirs
    server = await raw_peers(bob)
    server.client.register_plugin("xep_0030")
    server.client.plugin["xep_0030"].add_feature(NS_FT)  # a file server, as far as disco goes
    opened = server.accept_ibb_streams()
    extra = ["--unknown-size"] if unknown_size else []
    requester = cli.start(alice, "request", "--from", server.jid, "--name", "big.bin",
                          "--dir", str(inbox), "--max-size", "8K", "--transport", "ibb",
                          "--encrypt", "none", "--json", *extra, ready=False)  # fmt: skip

    [initiate] = await _initiates(server, 1)
    sid = initiate.get("sid")
    transport = initiate.find(f"{{{NS_JINGLE}}}content/*[@sid]")
    assert transport is not None
    accept = jingle("session-accept", sid, responder=server.jid)
    accept.append(file_content(transport, "big.bin", request=True))  # no <size/>
    await server.send(initiate.get("initiator"), accept)
    if unknown_size:  # the requester, as Jingle initiator, opens the IBB stream
        await asyncio.wait_for(opened.wait(), 30)
        offered = int(transport.get("block-size"))  # the requester's offer, accepted as is
        await server.ibb_send_until_refused(
            initiate.get("initiator"), transport.get("sid"), 4, offered
        )
    terminate = await server.wait_for("session-terminate", sid)
    fetched = await asyncio.to_thread(requester.finish)

    assert reason_of(terminate) == "media-error"
    assert fetched.status == 1
    [record] = json_lines(fetched.stdout)
    expected = "goes on past 8192 bytes" if unknown_size else "files of unknown size are refused"
    assert expected in record["error"], record
    assert list(inbox.iterdir()) == []


async def _initiates(peer: RawPeer, count: int) -> list[ET.Element]:
    await peer.wait_until(lambda: len(peer.initiated()) >= count, timeout=60)
    return peer.initiated()


# -- bounds ------------------------------------------------------------------------------------

STALLED_OFFERS = 200
DESCRIPTOR_LIMIT = 128
"""Far fewer than 200 stalled sessions need (each holds a socket or two), enough for eight."""

_UNDER_DESCRIPTOR_LIMIT = """\
import os, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
os.execv(sys.argv[2], sys.argv[2:])
"""


def _under_descriptor_limit(command: list[str]) -> list[str]:
    return [sys.executable, "-c", _UNDER_DESCRIPTOR_LIMIT, str(DESCRIPTOR_LIMIT), *command]


@pytest.mark.asyncio
async def test_stalled_offers_hold_at_most_the_per_account_limit(
    accounts, cli, dirs, raw_peers
) -> None:
    flooder, bob, carol = accounts(3)
    outbox, inbox = dirs
    write_random_file(outbox / "a.bin", 100_000)
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--json", "--encrypt", "none",
                         "--idle-timeout", "600", resource="r",
                         wrap=_under_descriptor_limit)  # fmt: skip
    peer = await raw_peers(flooder)
    candidate = Socks5Candidate()  # accepts every connection, then never sends a byte
    port = await candidate.start()
    to = f"{bob.jid}/r"

    try:
        sids = [new_sid() for _ in range(STALLED_OFFERS)]
        for sid in sids:
            transport = s5b_transport(new_sid(), (direct_candidate(peer.jid, port),))
            await peer.initiate(to, sid, file_content(transport, "stall.bin", 1_000_000))

        def answered() -> bool:
            return sum(_answer_of(peer, sid) is not None for sid in sids) == STALLED_OFFERS

        await peer.wait_until(answered, timeout=120)
        parts = [p for p in inbox.iterdir()]
        sent = await asyncio.to_thread(cli, carol, "send", "--to", to, "--encrypt", "none",
                                       "--json", str(outbox / "a.bin"))  # fmt: skip
    finally:
        await candidate.close()
    stopped = await asyncio.to_thread(receiver.stop)

    answers = [_answer_of(peer, sid) for sid in sids]
    assert answers.count("accepted") == 8, answers
    assert answers.count(TOO_MANY) == STALLED_OFFERS - 8
    assert len(parts) <= 8
    assert sent.status == 0, sent.stderr  # another contact's transfer still went through
    assert (inbox / "a.bin").read_bytes() == (outbox / "a.bin").read_bytes()
    refusals = [r for r in json_lines(stopped.stdout) if r["outcome"] == "refused"]
    assert len(refusals) == STALLED_OFFERS - 8


def _answer_of(peer: RawPeer, sid: str) -> str | None:
    """``accepted``, the text of a decline, or ``None`` while unanswered."""
    if peer.received("session-accept", sid):
        return "accepted"
    for terminate in peer.received("session-terminate", sid):
        text = terminate.find(f"{{{NS_JINGLE}}}reason/{{{NS_JINGLE}}}text")
        return text.text if text is not None and text.text else reason_of(terminate)
    return None
