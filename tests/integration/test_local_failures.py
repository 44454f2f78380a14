"""Our own disk failing mid-transfer ends both receiving commands cleanly.

The receiving CLI writes to a 1 MiB tmpfs (or, where mounting is not allowed, runs under a
1 MiB file-size limit) while a 4 MiB file arrives: it must exit non-zero, print a JSON failure
line with reason ``failed-application``, show no traceback and leave no partial file, and the
sending side must be told ``<failed-application/>``.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_helpers import Wrapper, json_lines

from slixmpp_jet.testing.demo import write_random_file

pytestmark = pytest.mark.xmpp

DISK_SIZE = 1024 * 1024
FILE_SIZE = 4 * DISK_SIZE
END_TIMEOUT = 120
"""Generous: a hang, not slowness, is what these tests catch."""

_UNDER_FILE_SIZE_LIMIT = """\
import os, resource, signal, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write beyond the limit fails with EFBIG
os.execv(sys.argv[2], sys.argv[2:])
"""


@dataclass(frozen=True)
class SmallDisk:
    """Where a receiving CLI runs out of space, and how to run it there."""

    directory: Path
    wrap: Wrapper | None
    """``None`` on a real small file system; otherwise runs the CLI under a file-size limit."""
    failure: str
    """What the error says: our refusal of a file that cannot fit, or the operating system's
    complaint when a write fails."""


def _under_file_size_limit(command: list[str]) -> list[str]:
    return [sys.executable, "-c", _UNDER_FILE_SIZE_LIMIT, str(DISK_SIZE), *command]


@pytest.fixture(params=["announced-too-large", "fills-up-mid-write"])
def small_disk(request, tmp_path) -> Iterator[SmallDisk]:
    """A 1 MiB tmpfs, where a 4 MiB file is refused before any byte moves (its announced size
    does not fit); or a 1 MiB file-size limit on the receiving process, which lets the transfer
    start and makes a write fail halfway (EFBIG), as a disk filling up meanwhile would."""
    directory = tmp_path / "small"
    directory.mkdir()
    if request.param == "fills-up-mid-write":
        yield SmallDisk(directory, _under_file_size_limit, os.strerror(errno.EFBIG))
        return
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(directory)],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:  # no mount command at all
        mounted = None
    if mounted is None or mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs is not permitted here")
    try:
        yield SmallDisk(directory, None, f"{FILE_SIZE} bytes announced")
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def assert_failed_on_our_disk(record: dict, disk: SmallDisk) -> None:
    assert (record["outcome"], record["reason"]) == ("failed", "failed-application"), record
    assert disk.failure in record["error"], record


def test_receive_into_a_full_disk_ends_cleanly(accounts, cli, tmp_path, small_disk) -> None:
    alice, bob = accounts(2)
    source = tmp_path / "big.bin"
    write_random_file(source, FILE_SIZE)
    receiver = cli.start(bob, "receive", "--dir", str(small_disk.directory), "--count", "1",
                         "--json", "--encrypt", "none", resource="r",
                         wrap=small_disk.wrap)  # fmt: skip

    sent = cli(alice, "send", "--to", f"{bob.jid}/r", "--json", "--encrypt", "none", str(source),
               timeout=END_TIMEOUT)  # fmt: skip
    received = receiver.finish(END_TIMEOUT)

    assert received.status == 1, received.stderr
    [record] = json_lines(received.stdout)
    assert_failed_on_our_disk(record, small_disk)
    assert list(small_disk.directory.iterdir()) == []
    assert sent.status == 1, sent.stderr
    [sent_record] = json_lines(sent.stdout)
    assert sent_record["reason"] == "failed-application", sent_record


def test_request_into_a_full_disk_ends_cleanly(accounts, cli, tmp_path, small_disk) -> None:
    alice, bob = accounts(2)
    served = tmp_path / "served"
    served.mkdir()
    write_random_file(served / "big.bin", FILE_SIZE)
    server = cli.start(bob, "serve", "--dir", str(served), "--json", "--encrypt", "none",
                       resource="s")  # fmt: skip

    fetched = cli(alice, "request", "--from", f"{bob.jid}/s", "--name", "big.bin",
                  "--dir", str(small_disk.directory), "--json", "--encrypt", "none",
                  wrap=small_disk.wrap, timeout=END_TIMEOUT)  # fmt: skip
    stopped = server.stop()

    assert fetched.status == 1, fetched.stderr
    [record] = json_lines(fetched.stdout)
    assert_failed_on_our_disk(record, small_disk)
    assert list(small_disk.directory.iterdir()) == []
    [served_record] = json_lines(stopped.stdout)
    assert served_record["reason"] == "failed-application", served_record
