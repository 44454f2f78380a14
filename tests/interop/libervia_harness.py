"""A headless Libervia (backend + CLI, Debian 12 0.9.0~hg3993) as a real third-party peer.

One backend per test run on a private D-Bus session bus, with a private HOME (config, database,
logs) that points ``localhost`` at the throwaway Prosody. Each test gets its own Libervia
profile bound to a fresh account. Every CLI call is an asyncio subprocess so the slixmpp client
of the test keeps running while Libervia works.

Debian's ``libervia-backend`` script starts with ``#!/usr/bin/env python3``; a pyenv or venv
``python3`` on PATH lacks Debian's Twisted, so both programs are run with ``/usr/bin/python3``
and PATH is reduced to the system directories (the bus's service activation uses it too).

Debian's ``miniupnpc`` binding raises ``Exception("Success")`` from ``UPnP().discover()`` when no
UPnP gateway answers; Libervia's NAT-PORT plugin does not catch it, and every S5B offer then
fails ("Can't send ... with Jingle File Transfer: Success"). NAT-PORT is only a recommendation of
the SOCKS5 and IP plugins, so the backend gets a ``miniupnpc`` that cannot be imported, and
``allow_get_ip`` is turned off (otherwise Libervia asks its user before querying a web site for
its address, and nobody answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import pickle
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from slixmpp import ClientXMPP

from slixmpp_jet.testing.prosody import Account, ProsodyServer

SYSTEM_PYTHON = "/usr/bin/python3"
BACKEND = "/usr/bin/libervia-backend"
CLI = "/usr/bin/libervia-cli"
LEGACY_NAMESPACE = "eu.siacs.conversations.axolotl"
LEGACY_DEVICE_LIST_NODE = f"{LEGACY_NAMESPACE}.devicelist"


def skip_reason() -> str | None:
    """Why the Libervia tests do not run here (they are opt-in), or ``None`` when they do."""
    if os.environ.get("JET_LIBERVIA") != "1":
        return "Libervia interop tests are opt-in: set JET_LIBERVIA=1"
    for program in (CLI, BACKEND, SYSTEM_PYTHON):
        if not Path(program).exists():
            return f"{program} is not installed (apt-get install libervia-backend libervia-cli)"
    if shutil.which("dbus-daemon") is None:
        return "dbus-daemon is not installed (apt-get install dbus)"
    return None


def _die_with_parent() -> None:
    """Runs in the child: the kernel sends it SIGTERM when the test process dies."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class LiberviaError(RuntimeError):
    """A Libervia command failed; the message carries its output and the backend log tail."""


@dataclass
class CliResult:
    returncode: int
    output: str


class LiberviaBackend:
    """``start()`` a backend for ``server``; ``await profile(account)`` for a connected profile."""

    def __init__(self, server: ProsodyServer) -> None:
        self.server = server
        self.home = Path(tempfile.mkdtemp(prefix="jet-libervia-", dir="/tmp"))
        self._bus: subprocess.Popen[bytes] | None = None
        self._backend: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}

    @property
    def log_path(self) -> Path:
        return self.home / "backend.log"

    def start(self, timeout: float = 60.0) -> None:
        """Start a private session bus and the backend; return once the backend is ready."""
        hosts = {"localhost": {"host": "127.0.0.1", "port": self.server.c2s_port}}
        (self.home / "libervia.conf").write_text(
            f"[DEFAULT]\nhosts_dict = {json.dumps(hosts)}\nlog_level = debug\n"
        )
        shadow = self.home / "no-upnp"
        shadow.mkdir()
        (shadow / "miniupnpc.py").write_text(
            'raise ImportError("UPnP is disabled for the interop tests")\n'
        )
        self.env = {
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
        }
        backend_env = {**self.env, "PYTHONPATH": str(shadow)}
        self._bus = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE,
            env=self.env,
            preexec_fn=_die_with_parent,
        )
        assert self._bus.stdout is not None
        address = self._bus.stdout.readline().decode().strip()
        self.env["DBUS_SESSION_BUS_ADDRESS"] = address
        with self.log_path.open("wb") as log:
            self._backend = subprocess.Popen(
                [SYSTEM_PYTHON, BACKEND, "fg"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**backend_env, "DBUS_SESSION_BUS_ADDRESS": address},
                cwd=self.home,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while b"Backend is ready" not in self.log_path.read_bytes():
            if self._backend.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LiberviaError(f"the Libervia backend did not start:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the backend and the bus; remove the private HOME unless ``JET_LIBERVIA_KEEP``
        is set (it holds the backend log and database, for debugging)."""
        for process in (self._backend, self._bus):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._backend = self._bus = None
        if not os.environ.get("JET_LIBERVIA_KEEP"):
            shutil.rmtree(self.home, ignore_errors=True)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def knows_legacy_device(self, bare_jid: str) -> bool:
        """Whether Libervia's OMEMO storage lists a legacy-OMEMO device for ``bare_jid``."""
        database = self.home / ".local" / "share" / "libervia" / "libervia.db"
        if not database.exists():
            return False
        prefix, suffix = f"/devices/{bare_jid}/", "/namespaces"
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            rows = db.execute(
                "SELECT key, value FROM private_ind_bin WHERE namespace = 'XEP-0384'"
            ).fetchall()
        return any(
            key.startswith(prefix) and key.endswith(suffix) and LEGACY_NAMESPACE in _value(value)
            for key, value in rows
        )

    async def cli(self, *args: str, timeout: float = 60.0) -> CliResult:
        """Run ``libervia-cli args`` against this backend."""
        process = await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON,
            CLI,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self.env,
            cwd=self.home,
        )
        try:
            raw, _ = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            raise LiberviaError(
                f"libervia-cli {' '.join(args)} did not finish in {timeout} s\n"
                f"backend log:\n{self.log_tail()}"
            ) from None
        finally:
            if process.returncode is None:  # timed out or cancelled: do not leave it behind
                process.kill()
                await process.wait()
        result = CliResult(process.returncode or 0, _without_noise(raw.decode(errors="replace")))
        if result.returncode != 0:
            raise LiberviaError(
                f"libervia-cli {' '.join(args)} exited with {result.returncode}:\n"
                f"{result.output}\nbackend log:\n{self.log_tail()}"
            )
        return result

    async def profile(self, account: Account) -> LiberviaProfile:
        """A new profile for ``account``, connected (OMEMO initialises on connection)."""
        name = f"lv-{account.user}"
        password = f"--xmpp-password={account.password}"  # the value may start with "-"
        await self.cli("profile", "create", "-j", account.jid, password, "-p", "", name)
        # The test server has no TLS: Libervia then must not require it.
        await self.cli("param", "set", "-p", name, "--start-session",
                       "Connection", "check_certificate", "false")  # fmt: skip
        await self.cli("param", "set", "-p", name, "General", "allow_get_ip", "false")
        await self.cli("profile", "connect", "-p", name, "-c")
        return LiberviaProfile(self, name, account)


def _value(stored: bytes) -> list[str]:
    """A list from Libervia's private storage (its columns hold pickles; the database is the
    test's own throwaway one)."""
    value: list[str] = pickle.loads(stored)
    return value


def _without_noise(output: str) -> str:
    """Drop the warning every CLI run prints about Debian's newer Jinja2."""
    return "\n".join(line for line in output.splitlines() if "output_template" not in line)


@dataclass
class LiberviaProfile:
    """One Libervia account, driven through ``libervia-cli``."""

    backend: LiberviaBackend
    name: str
    account: Account

    @property
    def jid(self) -> str:
        return self.account.jid

    async def start_omemo(self, peer: str) -> None:
        """Turn legacy OMEMO on for ``peer``: Libervia uses JET only in such a session, for
        sending and for accepting an encrypted offer."""
        await self.backend.cli("encryption", "start", "-p", self.name, "-n", "OLDMEMO", peer)

    async def send(self, path: Path, peer: str, encrypt: bool, timeout: float = 60) -> CliResult:
        """``libervia-cli file send``: offer ``path`` to ``peer``; returns when it is done."""
        flags = ["-e"] if encrypt else []
        return await self.backend.cli(
            "file", "send", "-p", self.name, *flags, str(path), peer, timeout=timeout
        )

    async def receive(self, directory: Path, peer: str, timeout: float = 60) -> CliResult:
        """``libervia-cli file receive``: accept one file from ``peer`` into ``directory``."""
        return await self.backend.cli(
            "file", "receive", "-p", self.name, "-f", "--path", str(directory), peer,
            timeout=timeout,
        )  # fmt: skip


async def announce_legacy_device(client: ClientXMPP, libervia: LiberviaProfile) -> None:
    """Publish ``client``'s legacy-OMEMO device list again until Libervia has recorded it.

    python-omemo 1.0.2 (Libervia's) processes device-list updates of several OMEMO versions for
    one account concurrently; when a peer publishes both (slixmpp-omemo does), each update reads
    the stored state before the other wrote it, and the last write wins. Libervia is then left
    believing our device speaks only ``urn:xmpp:omemo:2`` and finds no legacy-OMEMO device to
    seal a JET envelope for ("does not have a single active and trusted device"). One more
    legacy update on its own repairs that; Libervia's database tells when it has.
    """
    pubsub = client.plugin["xep_0060"]
    own = client.boundjid.bare
    reply = await pubsub.get_item(own, LEGACY_DEVICE_LIST_NODE, "current")
    payload = next(iter(reply["pubsub"]["items"]))["payload"]
    deadline = time.monotonic() + 30
    settled = 0  # a late concurrent update can still undo it: require two checks in a row
    while settled < 2:
        if time.monotonic() > deadline:
            raise LiberviaError(f"Libervia never recorded a legacy-OMEMO device of {own}")
        if libervia.backend.knows_legacy_device(own):
            settled += 1
        else:
            settled = 0
            await pubsub.publish(own, LEGACY_DEVICE_LIST_NODE, id="current", payload=payload)
        await asyncio.sleep(0.5)
