"""The README demo: an OMEMO-encrypted file transfer between two accounts, through the real CLI.

``python -m slixmpp_jet.testing.demo`` starts a throwaway Prosody on loopback, creates alice and
bob (mutually subscribed, as OMEMO needs), writes a file of random bytes, runs
``slixmpp-jet receive`` for bob in the background and ``slixmpp-jet send --encrypt omemo`` for
alice, checks that bob's copy equals alice's, removes everything and exits 0 only on success.

:class:`RunningProcess` and the ``cli_*`` helpers (run the command line against an account of
a :class:`ProsodyServer`) are shared with the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import slixmpp_jet

from ..cli.options import PASSWORD_VARIABLE, size
from .prosody import Account, ProsodyServer

READY_PREFIX = "ready:"
"""How ``receive``, ``serve`` and the example bots announce that they are listening."""


def cli_arguments(server: ProsodyServer, account: Account, resource: str) -> list[str]:
    """The connection options for ``account`` on the loopback server (no TLS there)."""
    return [
        "--jid", account.jid,
        "--resource", resource,
        "--host", "127.0.0.1",
        "--port", str(server.c2s_port),
        "--plaintext",
    ]  # fmt: skip


def cli_environment(account: Account, data_home: Path | None = None) -> dict[str, str]:
    """The environment for a CLI process: the password, and this package importable; with
    ``data_home``, the CLI keeps its OMEMO stores under it instead of ``$XDG_DATA_HOME``."""
    source_root = str(Path(slixmpp_jet.__file__).resolve().parent.parent)
    path = os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, PASSWORD_VARIABLE: account.password, "PYTHONPATH": path}
    if data_home is not None:
        environment["XDG_DATA_HOME"] = str(data_home)
    return environment


def cli_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "slixmpp_jet", *arguments]


@dataclass(frozen=True)
class Finished:
    """A CLI process that has exited: its status and everything it printed."""

    status: int
    stdout: str
    stderr: str


class RunningProcess:
    """A command (the CLI, an example bot) running in the background, output collected as it
    comes; ``echo`` (if given) is called with every stdout and stderr line as it arrives."""

    def __init__(
        self,
        command: Sequence[str],
        environment: Mapping[str, str],
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.command = list(command)
        self.process = subprocess.Popen(
            self.command,
            env=dict(environment),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._echo = echo
        self._ready = threading.Event()
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self._stdout)),
            threading.Thread(target=self._read, args=(self.process.stderr, self._stderr)),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, pipe: IO[str], lines: list[str]) -> None:
        for line in pipe:
            lines.append(line)
            if self._echo is not None:
                self._echo(line.rstrip("\n"))
            if line.startswith(READY_PREFIX):
                self._ready.set()
        self._ready.set()  # the process ended: stop waiting

    def wait_ready(self, timeout: float = 60) -> None:
        """Block until the process prints a line starting with ``ready:``; raise if it ends or
        times out first."""
        if not self._ready.wait(timeout) or self.process.poll() is not None:
            self.stop()
            output = "".join(self._stdout + self._stderr)
            raise RuntimeError(f"{' '.join(self.command)} did not get ready:\n{output}")

    def finish(self, timeout: float = 60) -> Finished:
        """Wait for the process to exit by itself (killing it after ``timeout`` seconds)."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join()
        return Finished(self.process.returncode, "".join(self._stdout), "".join(self._stderr))

    def stop(self) -> Finished:
        """Ask the process to stop (SIGTERM), as a user pressing Ctrl-C would."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.finish()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_random_file(path: Path, length: int) -> None:
    with path.open("wb") as out:
        remaining = length
        while remaining:
            block = os.urandom(min(remaining, 1 << 20))
            out.write(block)
            remaining -= len(block)


def _step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def run_demo(length: int) -> int:
    """The whole demo; returns the exit status."""
    _step("starting a throwaway Prosody on 127.0.0.1 (proxy65 and PEP enabled)")
    with ProsodyServer() as server, tempfile.TemporaryDirectory(prefix="jet-demo-") as work:
        alice, bob = server.register("alice"), server.register("bob")
        server.befriend(alice, bob)
        print(f"    c2s port {server.c2s_port}; accounts {alice.jid} and {bob.jid}")
        outbox, inbox = Path(work, "alice"), Path(work, "bob")
        outbox.mkdir()
        inbox.mkdir()
        source = outbox / "secret-plans.bin"
        write_random_file(source, length)
        print(f"    {source.name}: {length} random bytes, sha-256 {sha256_of(source)}")

        _step("bob: slixmpp-jet receive --count 1 --encrypt omemo (in the background)")
        receiver = RunningProcess(
            cli_command(
                "receive", *cli_arguments(server, bob, "demo"),
                "--encrypt", "omemo", "--count", "1", "--dir", str(inbox),
            ),
            cli_environment(bob, Path(work, "data")),
            echo=lambda line: print(f"    bob | {line}", flush=True),
        )  # fmt: skip
        receiver.wait_ready()

        _step("alice: slixmpp-jet send --encrypt omemo --to bob@localhost/demo")
        sent = subprocess.run(
            cli_command(
                "send", *cli_arguments(server, alice, "demo"),
                "--encrypt", "omemo", "--to", f"{bob.jid}/demo", str(source),
            ),
            env=cli_environment(alice, Path(work, "data")),
            stdin=subprocess.DEVNULL,
            check=False,
        )  # fmt: skip
        received = receiver.finish() if sent.returncode == 0 else receiver.stop()

        _step("checking")
        copy = inbox / source.name
        same = copy.is_file() and sha256_of(copy) == sha256_of(source)
        print(
            f"    alice's send exited with {sent.returncode}, bob's receive with {received.status}"
        )
        if sent.returncode == 0 and received.status == 0 and same:
            print(f"    bob's copy is identical to alice's file: sha-256 {sha256_of(copy)}")
            _step("success: an end-to-end encrypted Jingle file transfer (cleaning up)")
            return 0
        print("    FAILED: the transfer did not complete or the copies differ")
        print(f"    Prosody log:\n{(server.directory / 'prosody.log').read_text()[-3000:]}")
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m slixmpp_jet.testing.demo",
        description="An OMEMO-encrypted file transfer between two throwaway accounts.",
    )
    parser.add_argument(
        "--size", type=size, default=8 * 1024 * 1024, help="bytes to send (default: 8M)"
    )
    return run_demo(parser.parse_args(argv).size)


if __name__ == "__main__":
    sys.exit(main())
