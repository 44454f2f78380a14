"""Ctrl-C on any side of a transfer: one line, exit status 130, no traceback, nothing left.

The file goes in-band (IBB) and is large enough to be mid-way when the first progress line
(a quarter done) appears; the signal goes then. The other side must learn ``<cancel/>``.
"""

from __future__ import annotations

import re
import signal

import pytest
from cli_helpers import CliProcess, json_lines

from slixmpp_jet.testing.demo import Finished, write_random_file

pytestmark = pytest.mark.xmpp

SIZE = 48 * 1024 * 1024
PROGRESS = r"^big\.bin: \d+% \("
NOT_ENCRYPTED = ("--encrypt", "none")


def start_pair(cli, accounts, tmp_path, interrupted: str) -> tuple[CliProcess, CliProcess]:
    """Both sides of a transfer of ``big.bin``, started; (the one to interrupt, the other)."""
    alice, bob = accounts(2)
    outbox, inbox = tmp_path / "out", tmp_path / "in"
    outbox.mkdir()
    inbox.mkdir()
    source = outbox / "big.bin"
    write_random_file(source, SIZE)
    if interrupted in ("send", "receive"):
        waiting = cli.start(bob, "receive", "--dir", str(inbox), "--count", "1", "--json",
                            *NOT_ENCRYPTED, resource="r")  # fmt: skip
        starting = cli.start(alice, "send", "--to", f"{bob.jid}/r", "--json", *NOT_ENCRYPTED,
                             "--transport", "ibb", str(source), ready=False)  # fmt: skip
    else:
        waiting = cli.start(bob, "serve", "--dir", str(outbox), "--json", *NOT_ENCRYPTED,
                            resource="s")  # fmt: skip
        starting = cli.start(alice, "request", "--from", f"{bob.jid}/s", "--name", "big.bin",
                             "--dir", str(inbox), "--json", *NOT_ENCRYPTED, "--transport", "ibb",
                             ready=False)  # fmt: skip
    if interrupted in ("send", "request"):
        return starting, waiting
    return waiting, starting


def assert_one_line_after_progress(stopped: Finished, line: str) -> None:
    """Whatever the progress display said, the signal is answered by ``line`` alone."""
    lines = stopped.stderr.splitlines()
    last_progress = max(i for i, text in enumerate(lines) if re.search(PROGRESS, text))
    assert lines[last_progress + 1 :] == [line], stopped.stderr


@pytest.mark.parametrize("interrupted", ["send", "receive", "request", "serve"])
def test_ctrl_c_mid_transfer(accounts, cli, tmp_path, interrupted) -> None:
    target, other = start_pair(cli, accounts, tmp_path, interrupted)
    target.wait_for(PROGRESS)

    target.send_signal(signal.SIGINT)
    stopped = target.finish()
    peer = other.stop() if interrupted == "request" else other.finish()

    assert stopped.status == 130, stopped.stderr
    assert_one_line_after_progress(stopped, "interrupted")
    assert json_lines(stopped.stdout) == []  # an interrupted transfer has no result line
    [record] = json_lines(peer.stdout)
    assert (record["outcome"], record["reason"]) == ("failed", "cancel"), record
    inbox = tmp_path / "in"
    assert not inbox.exists() or list(inbox.iterdir()) == []


def test_sigterm_mid_transfer_exits_143(accounts, cli, tmp_path) -> None:
    target, other = start_pair(cli, accounts, tmp_path, "receive")
    target.wait_for(PROGRESS)

    target.send_signal(signal.SIGTERM)
    stopped = target.finish()
    other.finish()

    assert stopped.status == 143, stopped.stderr
    assert_one_line_after_progress(stopped, "interrupted")
    assert list((tmp_path / "in").iterdir()) == []


def test_idle_receiver_stopped_ends_normally(accounts, cli, tmp_path) -> None:
    [bob] = accounts(1)
    receiver = cli.start(bob, "receive", "--dir", str(tmp_path), *NOT_ENCRYPTED)

    receiver.send_signal(signal.SIGINT)
    stopped = receiver.finish()

    assert stopped.status == 0, stopped.stderr
    assert stopped.stderr.splitlines()[-1] == "stopped"
