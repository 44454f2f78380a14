"""Each example bot, and the README demo, run once against a real Prosody so they cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from slixmpp_jet.testing.demo import (
    RunningProcess,
    cli_arguments,
    cli_command,
    cli_environment,
    sha256_of,
    write_random_file,
)
from slixmpp_jet.testing.prosody import Account

pytestmark = pytest.mark.xmpp
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str, prosody, account, resource: str, *args: str) -> list[str]:
    """The command line running example ``name`` as ``account`` on the test server."""
    return [
        sys.executable,
        str(EXAMPLES / name),
        "--jid", f"{account.jid}/{resource}",
        "--host", "127.0.0.1",
        "--port", str(prosody.c2s_port),
        "--plaintext",
        *args,
    ]  # fmt: skip


@pytest.fixture
def background():
    """``background(command, account)``: a started process, stopped after the test."""
    started: list[RunningProcess] = []

    def start(command: list[str], account) -> RunningProcess:
        started.append(RunningProcess(command, cli_environment(account)))
        return started[-1]

    yield start
    for process in started:
        process.stop()


def test_receiver_bot_takes_an_encrypted_file_from_send_encrypted(
    prosody, accounts, background, tmp_path
) -> None:
    alice, bot = accounts(2)
    inbox, source, too_big = tmp_path / "inbox", tmp_path / "plans.bin", tmp_path / "huge.bin"
    write_random_file(source, 200_000)
    write_random_file(too_big, 300_000)
    receiver = background(
        example("receiver_bot.py", prosody, bot, "bot", "--dir", str(inbox), "--count", "1",
                "--max-size", "250000", "--omemo-store", str(tmp_path / "bot.json")),
        bot,
    )  # fmt: skip
    receiver.wait_ready()

    sender = background(
        example("send_encrypted.py", prosody, alice, "a", "--to", f"{bot.jid}/bot",
                "--omemo-store", str(tmp_path / "alice.json"), str(too_big), str(source)),
        alice,
    ).finish()  # fmt: skip
    received = receiver.finish()

    assert sender.status == 1, sender.stderr  # one of the two files was declined
    assert "huge.bin was not sent" in sender.stderr and "250000 bytes" in sender.stderr
    assert f"sent plans.bin (200000 bytes), sha-256 {sha256_of(source)}" in sender.stdout
    assert received.status == 0, received.stderr
    assert f"sha-256 {sha256_of(source)}" in received.stdout
    assert sorted(p.name for p in inbox.iterdir()) == ["plans.bin"]
    assert (inbox / "plans.bin").read_bytes() == source.read_bytes()
    assert (tmp_path / "bot.json").stat().st_mode & 0o077 == 0  # the OMEMO identity is private


def test_file_server_answers_a_contact_and_refuses_escapes(
    prosody, accounts, background, tmp_path
) -> None:
    alice, server = accounts(2)
    [mallory] = accounts(1)  # not in the server's roster
    public, inbox = tmp_path / "public", tmp_path / "inbox"
    public.mkdir()
    write_random_file(public / "report.bin", 150_000)
    (tmp_path / "private.txt").write_text("outside the served directory\n")
    serving = background(
        example("file_server.py", prosody, server, "files", "--dir", str(public), "--count", "1",
                "--omemo-store", str(tmp_path / "server.json")),
        server,
    )  # fmt: skip
    serving.wait_ready()

    def request(name: str, account=alice):
        return background(
            cli_command("request", *cli_arguments(prosody, account, "a"), "--json",
                        "--from", f"{server.jid}/files", "--name", name, "--mkdir",
                        "--dir", str(inbox)),
            account,
        ).finish()  # fmt: skip

    stranger = request("report.bin", mallory)
    escape = request("../private.txt")
    fetched = request("report.bin")
    served = serving.finish()

    assert stranger.status == 1 and "not accepted from this account" in stranger.stderr
    assert escape.status == 1 and "file not available" in escape.stderr
    assert fetched.status == 0, fetched.stderr
    assert '"envelope": "omemo"' in fetched.stdout
    assert (inbox / "report.bin").read_bytes() == (public / "report.bin").read_bytes()
    assert served.status == 0, served.stderr
    assert f"served report.bin to {alice.jid}/a" in served.stdout
    assert f"{alice.jid}/a asks for report.bin" in served.stdout  # the allow policy was consulted
    assert f"{mallory.jid}/a asks" not in served.stdout  # the gate declined her unread
    assert sorted(p.name for p in inbox.iterdir()) == ["report.bin"]


def test_the_readme_demo_succeeds() -> None:
    demo = subprocess.run(
        [sys.executable, "-m", "slixmpp_jet.testing.demo"],
        env=cli_environment_for_demo(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "bob's copy is identical to alice's file" in demo.stdout
    assert "encrypted (OMEMO, aes-128-gcm)" in demo.stdout  # the receiver's result line
    assert "verified (GCM authentication tag" in demo.stdout


def cli_environment_for_demo() -> dict[str, str]:
    """The demo needs no password: only this package on the path."""
    environment = cli_environment(Account("unused", "unused"))
    del environment["SLIXMPP_JET_PASSWORD"]
    return environment
