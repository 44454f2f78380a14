"""Losing the stream to the server: a test Prosody of their own is restarted under the CLI.

``receive`` and ``serve`` come back (backoff, a log line) and go on; the session that lived on
the lost stream ends and leaves no partial file; ``--count`` still counts it. ``send`` reports
the loss as a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from cli_helpers import CliRunner, json_lines
from raw_peer import BLOCK_SIZE, RawPeer, file_content, ibb_transport, new_sid

from slixmpp_jet.reconnect import Reconnector
from slixmpp_jet.testing.clients import connect, disconnect, make_client
from slixmpp_jet.testing.demo import write_random_file
from slixmpp_jet.testing.prosody import Account, ProsodyServer

pytestmark = pytest.mark.xmpp

NOT_ENCRYPTED = ("--encrypt", "none")
LOST = "lost the connection to the server"
BACK = "connected again"


@pytest.fixture
def restartable(prosody) -> Iterator[tuple[ProsodyServer, CliRunner]]:
    """A Prosody of this test's own (restarting the shared one would hit other tests' clients)
    and a CLI runner on it. ``prosody`` first: skipped when Prosody is not installed."""
    server = ProsodyServer()
    server.start()
    runner = CliRunner(server)
    try:
        yield server, runner
    finally:
        try:
            runner.close()
        finally:
            server.stop()


def friends(server: ProsodyServer) -> tuple[Account, Account]:
    first, second = server.register(), server.register()
    server.befriend(first, second)
    return first, second


def test_receive_comes_back_after_a_server_restart(restartable, tmp_path) -> None:
    server, cli = restartable
    alice, bob = friends(server)
    source, inbox = tmp_path / "after.bin", tmp_path / "in"
    inbox.mkdir()
    write_random_file(source, 300_000)
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--count", "1", *NOT_ENCRYPTED,
                         resource="r")  # fmt: skip

    server.restart()
    receiver.wait_for(LOST)
    receiver.wait_for(BACK)
    sent = cli(alice, "send", "--to", f"{bob.jid}/r", *NOT_ENCRYPTED, str(source))
    received = receiver.finish()

    assert sent.status == 0, sent.stderr
    assert received.status == 0, received.stderr
    assert (inbox / "after.bin").read_bytes() == source.read_bytes()


def test_serve_comes_back_after_a_server_restart(restartable, tmp_path) -> None:
    server, cli = restartable
    alice, bob = friends(server)
    shared, inbox = tmp_path / "shared", tmp_path / "in"
    shared.mkdir()
    inbox.mkdir()
    write_random_file(shared / "wanted.bin", 200_000)
    server_process = cli.start(bob, "serve", "--dir", str(shared), "--count", "1",
                               *NOT_ENCRYPTED, resource="s")  # fmt: skip

    server.restart()
    server_process.wait_for(BACK)
    fetched = cli(alice, "request", "--from", f"{bob.jid}/s", "--name", "wanted.bin",
                  "--dir", str(inbox), *NOT_ENCRYPTED)  # fmt: skip
    served = server_process.finish()

    assert fetched.status == 0, fetched.stderr
    assert served.status == 0, served.stderr
    assert (inbox / "wanted.bin").read_bytes() == (shared / "wanted.bin").read_bytes()


@pytest.mark.asyncio
async def test_transfer_on_the_lost_stream_ends_cleanly_and_counts(restartable, tmp_path) -> None:
    """A transfer cut by the restart fails, leaves no partial file and is one of --count 2;
    the second offer, after reconnecting, completes."""
    server, cli = restartable
    alice, bob, peer_account = (server.register() for _ in range(3))
    server.befriend(alice, bob, peer_account)
    source, inbox = tmp_path / "second.bin", tmp_path / "in"
    inbox.mkdir()
    write_random_file(source, 100_000)
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--count", "2", "--json",
                         *NOT_ENCRYPTED, resource="r")  # fmt: skip
    peer = RawPeer(make_client(server, peer_account, "raw"))
    await connect(peer.client, server)
    to, sid, ibb_sid = f"{bob.jid}/r", new_sid(), new_sid()
    try:
        offer = file_content(ibb_transport(ibb_sid), "cut.bin", 8 * BLOCK_SIZE)
        await peer.initiate(to, sid, offer)
        await peer.wait_for("session-accept", sid)
        await peer.ibb_open(to, ibb_sid)
        await peer.ibb_send(to, ibb_sid, blocks=4)  # half the file, then the server goes
        assert (inbox / "cut.bin").exists() is False
        assert any(inbox.iterdir()), "the partial file is there while the transfer runs"
        await asyncio.to_thread(server.restart)
        await asyncio.to_thread(receiver.wait_for, BACK)
    finally:
        await disconnect(peer.client)
    assert list(inbox.iterdir()) == [], "the cut transfer removed its partial file"

    sent = await asyncio.to_thread(
        cli, alice, "send", "--to", f"{bob.jid}/r", *NOT_ENCRYPTED, str(source)
    )
    received = await asyncio.to_thread(receiver.finish)

    assert sent.status == 0, sent.stderr
    assert received.status == 1, received.stderr  # one of the two failed
    cut, completed = json_lines(received.stdout)
    assert (cut["name"], cut["outcome"], cut["reason"]) == ("cut.bin", "failed",
                                                            "connectivity-error")  # fmt: skip
    assert "we lost our connection to the server" in cut["error"]
    assert (completed["name"], completed["outcome"]) == ("second.bin", "completed")
    assert sorted(path.name for path in inbox.iterdir()) == ["second.bin"]


@pytest.mark.asyncio
async def test_send_reports_the_lost_connection(restartable, tmp_path) -> None:
    server, cli = restartable
    alice, bob = friends(server)
    silent = make_client(server, bob, "silent", ["xep_0234"])
    offers: asyncio.Queue[object] = asyncio.Queue()
    silent.add_event_handler("jingle_file_offer", offers.put_nowait)  # looks, never answers
    await connect(silent, server)
    source = tmp_path / "unanswered.bin"
    write_random_file(source, 1000)
    try:
        sending = cli.start(alice, "send", "--to", f"{bob.jid}/silent", *NOT_ENCRYPTED,
                            str(source), ready=False)  # fmt: skip
        await asyncio.wait_for(offers.get(), 30)
        await asyncio.to_thread(server.restart)
        sent = await asyncio.to_thread(sending.finish)
    finally:
        await disconnect(silent)

    assert sent.status == 3, sent.stderr
    assert f"error: {LOST}" in sent.stderr


@pytest.mark.asyncio
async def test_plugin_reconnects_when_asked(restartable) -> None:
    """The opt-in for applications: ``xep_0166`` with ``reconnect``."""
    server, _ = restartable
    (account,) = (server.register(),)
    client = make_client(server, account, "bot")
    client.register_plugin("xep_0166", {"reconnect": True})
    client.register_plugin("xep_0234")
    reconnector: Reconnector = client.plugin["xep_0166"].reconnector
    back: asyncio.Queue[object] = asyncio.Queue()
    client.add_event_handler("jet_reconnected", back.put_nowait)
    await connect(client, server)
    try:
        await asyncio.to_thread(server.restart)
        await asyncio.wait_for(back.get(), 60)
        assert client.is_connected()
        assert reconnector.losses == 1
    finally:
        reconnector.stop()
        await disconnect(client)


@pytest.mark.asyncio
async def test_plugin_stays_offline_after_disconnecting_on_purpose(prosody, accounts) -> None:
    """``disconnect()`` is no loss: the reconnector lets it be, no stop() needed."""
    (account,) = accounts(1)
    client = make_client(prosody, account, "bot")
    client.register_plugin("xep_0166", {"reconnect": True})
    reconnector: Reconnector = client.plugin["xep_0166"].reconnector
    reconnecting: list[object] = []
    client.add_event_handler("jet_reconnecting", reconnecting.append)
    await connect(client, prosody)
    await disconnect(client)
    assert reconnector.losses == 0
    assert reconnecting == []
    assert not client.is_connected()


@pytest.mark.asyncio
@pytest.mark.allow_error_logs
async def test_a_conflict_ends_reconnecting(prosody, accounts) -> None:
    """Another client logging in with the same resource takes over (Prosody kicks the old
    one with a conflict stream error); coming back would kick it in turn, so the reconnector
    gives up and says why."""
    (account,) = accounts(1)
    old = make_client(prosody, account, "same")
    old.register_plugin("xep_0166", {"reconnect": True})
    stopped: asyncio.Queue[str] = asyncio.Queue()
    gone: asyncio.Queue[object] = asyncio.Queue()
    old.add_event_handler("jet_reconnect_stopped", stopped.put_nowait)
    old.add_event_handler("disconnected", gone.put_nowait)
    await connect(old, prosody)
    new = make_client(prosody, account, "same")
    try:
        await connect(new, prosody)
        why = await asyncio.wait_for(stopped.get(), 30)
        await asyncio.wait_for(gone.get(), 30)
        assert why == "another client logged in with this resource"
        assert old.plugin["xep_0166"].reconnector.losses == 0
        assert new.is_connected()
    finally:
        await disconnect(new)
        await disconnect(old)


def test_receive_exits_when_another_client_takes_its_resource(
    prosody, cli, accounts, tmp_path
) -> None:
    (bob,) = accounts(1)
    receiver = cli.start(bob, "receive", "--dir", str(tmp_path), *NOT_ENCRYPTED, resource="r")

    async def take_over() -> None:
        intruder = make_client(prosody, bob, "r")
        await connect(intruder, prosody)
        await disconnect(intruder)

    asyncio.run(take_over())
    received = receiver.finish()
    assert received.status == 3, received.stderr
    assert (
        "error: lost the connection to the server (another client logged in with this resource)"
        in received.stderr
    )
