"""The command line as people use it: bare JIDs, --version, --quiet, --mkdir, JSON for every
outcome."""

from __future__ import annotations

import asyncio
import base64
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
import time

import pytest
from cli_helpers import json_lines

from slixmpp_jet import __version__
from slixmpp_jet.cli import main
from slixmpp_jet.testing.clients import connect, disconnect, make_client
from slixmpp_jet.testing.demo import (
    RunningProcess,
    cli_arguments,
    cli_command,
    cli_environment,
    write_random_file,
)

pytestmark = pytest.mark.xmpp


@pytest.mark.asyncio
async def test_a_bare_jid_picks_the_newest_client_that_does_file_transfer(
    prosody, accounts, cli, tmp_path
) -> None:
    alice, bob = accounts(2)
    older, newer = tmp_path / "older", tmp_path / "newer"
    source = tmp_path / "a.bin"
    write_random_file(source, 1000)
    receivers = []
    for directory in (older, newer):
        receivers.append(cli.start(bob, "receive", "--mkdir", "--dir", str(directory),
                                   "--count", "1", "--encrypt", "none",
                                   resource=directory.name))  # fmt: skip
        time.sleep(1.1)  # the server stamps presences to the second: tell the two apart
    chat_only = make_client(prosody, bob, "chat")  # highest priority, no Jingle at all
    await connect(chat_only, prosody)
    chat_only.send_presence(ppriority=10)
    try:
        sent = await asyncio.to_thread(cli, alice, "send", "--to", bob.jid, "--encrypt", "none",
                                       "--json", str(source))  # fmt: skip
    finally:
        await disconnect(chat_only)
    received = await asyncio.to_thread(receivers[1].finish)

    assert sent.status == 0, sent.stderr
    assert f"{bob.jid} is online as {bob.jid}/newer: using that client" in sent.stderr
    [record] = json_lines(sent.stdout)
    assert record["peer"] == f"{bob.jid}/newer"
    assert received.status == 0, received.stderr
    assert (newer / "a.bin").read_bytes() == source.read_bytes()
    assert list(older.iterdir()) == []


def test_a_bare_jid_with_no_client_online_is_a_clear_error(accounts, cli, tmp_path) -> None:
    alice, bob = accounts(2)
    source = tmp_path / "a.bin"
    source.write_bytes(b"x")

    sent = cli(alice, "send", "--to", bob.jid, "--encrypt", "none", "--json", str(source))

    assert sent.status == 1
    assert f"{bob.jid} has no client online" in sent.stderr
    [record] = json_lines(sent.stdout)
    assert record["outcome"] == "error" and record["exit_status"] == 1
    assert f"{bob.jid} has no client online" in record["error"]


def test_quiet_prints_only_the_results(accounts, cli, tmp_path) -> None:
    alice, bob = accounts(2)
    inbox = tmp_path / "in"
    inbox.mkdir()
    source = tmp_path / "a.bin"
    write_random_file(source, 1000)
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--count", "1", "--encrypt", "none",
                         resource="r")  # fmt: skip

    sent = cli(alice, "send", "--quiet", "--to", f"{bob.jid}/r", "--encrypt", "none", str(source))
    receiver.finish()

    assert sent.status == 0
    assert sent.stderr == ""
    assert sent.stdout.startswith("sent a.bin (1000 B) to")


def test_version_names_the_libraries(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    line = capsys.readouterr().out
    assert line.startswith(f"slixmpp-jet {__version__} (slixmpp ")
    assert "slixmpp-omemo" in line


def test_a_missing_dir_is_an_error_unless_mkdir(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLIXMPP_JET_PASSWORD", "irrelevant")
    missing = tmp_path / "not" / "there"
    base = ["--jid", "a@localhost", "--host", "127.0.0.1", "--port", "1", "--json"]

    status = main(["receive", *base, "--dir", str(missing)])
    refused = capsys.readouterr()
    created = main(["receive", *base, "--mkdir", "--dir", str(missing)])

    assert status == 2
    assert "does not exist (--mkdir creates it)" in refused.err
    [record] = [json.loads(line) for line in refused.out.splitlines()]
    assert (record["outcome"], record["exit_status"]) == ("error", 2)
    assert created == 3  # made, then no server to log in to
    assert missing.is_dir()


def test_the_progress_line_fits_an_80_column_terminal(prosody, accounts, cli, tmp_path) -> None:
    alice, bob = accounts(2)
    inbox = tmp_path / "in"
    inbox.mkdir()
    source = tmp_path / ("a-very-long-file-name-" * 6 + ".bin")
    write_random_file(source, 3 * 1024 * 1024)
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--count", "1", "--encrypt", "none",
                         resource="r")  # fmt: skip

    drawn = run_on_terminal(
        cli_command("send", *cli_arguments(prosody, alice, "s"), "--to", f"{bob.jid}/r",
                    "--encrypt", "none", "--transport", "ibb", str(source)),
        cli_environment(alice),
        columns=80,
    )  # fmt: skip
    receiver.finish()

    lines = [re.sub(r"\x1b\[K", "", part) for part in re.split(r"[\r\n]+", drawn)]
    redraws = [line for line in lines if "%" in line and " of " in line]
    assert redraws, drawn  # the bar was drawn at least once
    assert max(len(line) for line in redraws) < 80, [r for r in redraws if len(r) >= 80]
    assert all("…" in line for line in redraws)  # the long name was shortened to fit


def run_on_terminal(command: list[str], environment: dict[str, str], columns: int) -> str:
    """Run ``command`` with stderr on a pseudo-terminal ``columns`` wide; what it drew there."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    environment = {key: value for key, value in environment.items() if key != "COLUMNS"}
    process = subprocess.Popen(
        command, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    drawn = bytearray()
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the other end closed: the process is gone
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    assert process.wait(120) == 0, drawn.decode(errors="replace")
    return drawn.decode()


def _folder_to_send(root) -> dict[str, bytes]:
    """A folder of files (one nested twice, one link inside it); their paths and contents."""
    files = {"top.txt": b"top", "photos/a.jpg": b"a" * 100, "photos/2026/-rf.jpg": b"b" * 50}
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    (root / "photos" / "same-as-top.txt").symlink_to(root / "top.txt")  # inside: followed
    files["photos/same-as-top.txt"] = b"top"
    return files


@pytest.mark.parametrize("keep_paths", [True, False], ids=["keep-paths", "names-only"])
def test_send_a_directory(accounts, cli, tmp_path, keep_paths) -> None:
    alice, bob = accounts(2)
    outbox, inbox = tmp_path / "out", tmp_path / "in"
    outbox.mkdir()
    inbox.mkdir()
    files = _folder_to_send(outbox)
    extra = ["--keep-paths"] if keep_paths else []
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--count", str(len(files)),
                         "--encrypt", "none", *extra, resource="r")  # fmt: skip

    sent = cli(alice, "send", "--to", f"{bob.jid}/r", "--encrypt", "none", "--json", str(outbox))
    received = receiver.finish()

    assert sent.status == 0, sent.stderr
    assert sorted(r["name"] for r in json_lines(sent.stdout)) == sorted(
        ["top.txt", "photos/a.jpg", "photos/2026/_-rf.jpg", "photos/same-as-top.txt"]
    )
    assert received.status == 0, received.stderr
    stored = {
        p.relative_to(inbox).as_posix(): p.read_bytes() for p in inbox.rglob("*") if p.is_file()
    }
    if keep_paths:
        assert stored == {name.replace("-rf", "_-rf"): data for name, data in files.items()}
    else:
        assert sorted(stored) == ["_-rf.jpg", "a.jpg", "same-as-top.txt", "top.txt"]


def test_send_refuses_a_link_out_of_the_directory(accounts, cli, tmp_path) -> None:
    [alice] = accounts(1)
    outbox = tmp_path / "out"
    outbox.mkdir()
    (tmp_path / "secret.txt").write_text("not to be sent")
    (outbox / "innocent.txt").symlink_to(tmp_path / "secret.txt")

    sent = cli(alice, "send", "--to", f"{alice.jid}/x", "--encrypt", "none", str(outbox))

    assert sent.status == 2
    assert "is a symbolic link out of" in sent.stderr


def test_a_config_file_with_two_accounts_replaces_the_repeated_options(
    prosody, accounts, tmp_path
) -> None:
    alice, bob = accounts(2)
    inbox = tmp_path / "bob-inbox"
    inbox.mkdir()
    source = tmp_path / "a.bin"
    write_random_file(source, 5000)
    (tmp_path / "alice-password").write_text(alice.password + "\n")
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
default = "alice"

[accounts.alice]
jid = "{alice.jid}"
password_file = "{tmp_path / "alice-password"}"
host = "127.0.0.1"
port = {prosody.c2s_port}
encrypt = "none"

[accounts.bob]
jid = "{bob.jid}"
password_command = "printf '%s\\\\n' '{bob.password}'"
host = "127.0.0.1"
port = {prosody.c2s_port}
resource = "desk"
encrypt = "none"
dir = "{inbox}"
from = ["{alice.jid}"]
"""
    )
    environment = {k: v for k, v in cli_environment(alice).items() if k != "SLIXMPP_JET_PASSWORD"}
    common = ["--config", str(config), "--plaintext", "--json"]
    receiver = RunningProcess(
        cli_command("receive", *common, "--account", "bob", "--count", "1"), environment
    )
    receiver.wait_ready()

    sent = subprocess.run(
        cli_command("send", *common, "--to", bob.jid, str(source)),
        env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    received = receiver.finish(60)

    assert sent.returncode == 0, sent.stderr
    [record] = json_lines(sent.stdout)
    assert record["peer"] == f"{bob.jid}/desk" and record["outcome"] == "completed"
    assert received.status == 0, received.stderr
    assert f"accepts files from {alice.jid} into {inbox}" in received.stderr
    assert (inbox / "a.bin").read_bytes() == source.read_bytes()


def test_config_file_mistakes_are_usage_errors(tmp_path, capsys) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[accounts.a]\njid = "a@localhost"\n[accounts.b]\njid = "b@localhost"\n')
    bad_key = tmp_path / "bad.toml"
    bad_key.write_text('[accounts.a]\njid = "a@localhost"\npasword = "typo"\n')

    several = main(["send", "--config", str(config), "--to", "c@localhost", str(config)])
    assert several == 2
    assert "several accounts (a, b): choose one with --account" in capsys.readouterr().err
    assert main(["send", "--config", str(bad_key), "--to", "c@localhost", str(config)]) == 2
    assert "unknown key 'pasword'" in capsys.readouterr().err
    assert main(["send", "--config", str(config), "--account", "z", "--to", "c", "x"]) == 2
    assert "has no account 'z'" in capsys.readouterr().err


@pytest.mark.parametrize("transport", ["ibb", "s5b"])
def test_receive_takes_only_the_transport_it_is_told(accounts, cli, tmp_path, transport) -> None:
    alice, bob = accounts(2)
    inbox = tmp_path / "in"
    inbox.mkdir()
    source = tmp_path / "a.bin"
    write_random_file(source, 20_000)
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--count", "1", "--json",
                         "--encrypt", "none", "--transport", transport, resource="r")  # fmt: skip

    sent = cli(alice, "send", "--to", f"{bob.jid}/r", "--encrypt", "none", "--json", str(source))
    received = receiver.finish()

    assert sent.status == 0, sent.stderr
    assert received.status == 0, received.stderr
    [record] = json_lines(received.stdout)
    assert record["transport"] == transport  # the sender offered SOCKS5 first either way
    assert (inbox / "a.bin").read_bytes() == source.read_bytes()


def test_debug_logs_stanzas_without_file_data_or_password(accounts, cli, tmp_path) -> None:
    alice, bob = accounts(2)
    inbox = tmp_path / "in"
    inbox.mkdir()
    source = tmp_path / "secret.txt"
    source.write_bytes(b"the launch code is 0000 " * 400)  # 9,600 bytes: three IBB blocks
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--count", "1", "--encrypt", "none",
                         resource="r")  # fmt: skip

    sent = cli(alice, "send", "--debug", "--to", f"{bob.jid}/r", "--encrypt", "none",
               "--transport", "ibb", str(source))  # fmt: skip
    receiver.finish()

    assert sent.status == 0, sent.stderr[-2000:]
    assert "SEND: <iq" in sent.stderr and "http://jabber.org/protocol/ibb" in sent.stderr
    block = base64.b64encode(source.read_bytes()[:4096]).decode()
    assert block[:64] not in sent.stderr  # the file's bytes never reach the log
    assert alice.password not in sent.stderr
    assert (inbox / "secret.txt").read_bytes() == source.read_bytes()
