"""A throwaway Prosody on loopback: own temp dir, free ports, proxy65 and PEP, no throttling.

Without TLS by default; ``ProsodyServer(tls=True)`` requires STARTTLS with a self-signed
certificate for ``localhost`` (made with ``openssl``), which clients trust through
:attr:`ProsodyServer.certificate`. ``ProsodyServer(turn=(host, port, secret))`` also
announces a STUN/TURN server over UDP and TCP (``mod_turn_external``: XEP-0215 external
services, TURN with short-lived credentials from the shared secret), such as a
:class:`~slixmpp_jet.testing.turn.TurnServer` (its ``announcement``).

Used by the test suite, the demo and the benchmarks. Needs Debian's ``prosody`` (and
``lua-event``).

What bounds in-band bytes (IBB) through it, as measured by ``python -m benchmarks``:

* ``c2s_stanza_size_limit`` is 1 MiB here (Prosody's own default: 256 KiB). An IBB ``<data/>``
  IQ is the block in base64 plus about 200 bytes, 88 KiB at the largest block-size (65535), so
  it fits either way.
* No ``mod_limits``: Debian's stock configuration enables it with ``c2s rate = "10kb/s"``,
  which caps every IBB transfer through such a server at 10 kB/s (SOCKS5 is not affected).
* Prosody's network defaults are kept (``network_settings``; Nagle on). Its c2s connections
  read 4096 bytes at a time (``network_default_read_size``) while LuaSocket fills an 8 KiB
  buffer per ``recv``: with the other half still buffered, Prosody pauses that socket until
  its next timer, at least ``min_wait`` (1 ms) away, or until another socket wakes its loop
  (``strace``: ``recvfrom(8192)``, the socket taken out of ``epoll``, ``epoll_wait(..., 1)``).
  So a client sending faster than about 8 KiB per wake-up waits for the server, and the
  acknowledgements flowing back are what wake it: raw IQs relayed between two plain sockets
  (``benchmarks/relay.py``) ran at 6.2 MiB/s with 4096-byte blocks but 2.7 MiB/s with 8192
  (fewer acknowledgements per byte), and the server's CPU was the same per byte either way.
  Below 4096 the fastest block is the largest whose stanza fits one read: raw IQs of 2900-byte
  blocks (a stanza just under 4096 bytes) beat 3072 (just over) in two runs of three rounds,
  medians 5.05 and 6.01 against 4.58 and 5.69 MiB/s, with 4096 at 3.74, 6144 at 2.9, 2560 at
  4.63 and 2048 at 4.39; the server spent less CPU per byte on the stanzas that fit.
  ``network_settings = { min_wait = 0.00001 }`` lifted our IBB from about 2x slixmpp's
  ``xep_0047`` to about 3.5x in one side-by-side run; it stays at Prosody's default here, so
  that the benchmarks show what a stock server gives.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

DOMAIN = "localhost"
PROXY_JID = f"proxy.{DOMAIN}"

_CONFIG = """\
run_as_root = true
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
certificates = "{dir}/certs"
plugin_paths = {{}}
log = {{ {{ levels = {{ min = "{log_level}" }}, to = "file", filename = "{dir}/prosody.log" }} }}
network_backend = "{backend}"
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s_port} }}
c2s_direct_tls_ports = {{}}
legacy_ssl_ports = {{}}
s2s_ports = {{}}
component_ports = {{}}
http_ports = {{}}
https_ports = {{}}
proxy65_ports = {{ {proxy_port} }}
proxy65_interfaces = {{ "127.0.0.1" }}
modules_enabled = {{
  "roster"; "saslauth"; "disco"; "pep"; "private"; "ping"; "register";
  "version"; "time"; "uptime"; "blocklist"; "carbons";{tls_module}{turn_module}{smacks_module}
}}
modules_disabled = {{ "s2s"; "s2s_auth_certs"; }}
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = {require_encryption}
allow_unencrypted_plain_auth = true
allow_registration = true
c2s_stanza_size_limit = 1048576
{turn}
VirtualHost "{domain}"
{virtual_host_tls}
Component "{proxy_jid}" "proxy65"
  proxy65_address = "127.0.0.1"
"""

_VIRTUAL_HOST_TLS = """\
  ssl = {{ certificate = "{certificate}"; key = "{key}"; }}
"""

_TURN = """\
turn_external_host = {host}
turn_external_port = {port}
turn_external_secret = {secret}
turn_external_tcp = true
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def make_self_signed_certificate(certificate: Path, key: Path) -> None:
    """Write a self-signed EC certificate for ``localhost`` and its subdomains (so proxy65's
    too) and its unencrypted private key, with ``openssl``."""
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is not installed (apt-get install openssl)")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650",
            "-subj", f"/CN={DOMAIN}",
            "-addext", f"subjectAltName=DNS:{DOMAIN},DNS:*.{DOMAIN}",
            "-keyout", str(key), "-out", str(certificate),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def end_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM ``process`` if it still runs, SIGKILL after 5 s, and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def die_with_parent() -> None:
    """Runs in the child (``preexec_fn``): ask the kernel to SIGTERM it (Prosody, coturn)
    when the test process dies."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class Account:
    """A registered account on the throwaway server."""

    user: str
    password: str

    @property
    def jid(self) -> str:
        return f"{self.user}@{DOMAIN}"


@dataclass
class ProsodyServer:
    """Start with :meth:`start` (or ``with``), then :meth:`register` accounts."""

    backend: str = "epoll"
    log_level: str = "info"
    tls: bool = False
    turn: tuple[str, int, str] | None = None
    smacks: bool = False
    """Offer XEP-0198 stream management (``mod_smacks``)."""
    c2s_port: int = field(default_factory=free_port)
    proxy_port: int = field(default_factory=free_port)
    directory: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="jet-prosody-", dir="/tmp"))
    )
    _process: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.directory / "prosody.cfg.lua"

    @property
    def pid(self) -> int | None:
        """The process id of the running Prosody (None when stopped)."""
        return None if self._process is None else self._process.pid

    @property
    def certificate(self) -> Path:
        """The self-signed certificate of a ``tls=True`` server (what clients must trust)."""
        return self.directory / "certs" / f"{DOMAIN}.crt"

    @property
    def _key(self) -> Path:
        return self.certificate.with_suffix(".key")

    def config_text(self) -> str:
        """The Prosody configuration :meth:`start` writes."""
        virtual_host_tls = (
            _VIRTUAL_HOST_TLS.format(certificate=self.certificate, key=self._key)
            if self.tls
            else ""
        )
        return _CONFIG.format(
            dir=self.directory,
            log_level=self.log_level,
            backend=self.backend,
            c2s_port=self.c2s_port,
            proxy_port=self.proxy_port,
            domain=DOMAIN,
            proxy_jid=PROXY_JID,
            tls_module=' "tls";' if self.tls else "",
            require_encryption="true" if self.tls else "false",
            virtual_host_tls=virtual_host_tls,
            turn_module=' "turn_external";' if self.turn else "",
            smacks_module=' "smacks";' if self.smacks else "",
            turn=self._turn_config(),
        )

    def _turn_config(self) -> str:
        if self.turn is None:
            return ""
        host, port, secret = self.turn
        return _TURN.format(host=json.dumps(host), port=int(port), secret=json.dumps(secret))

    def start(self, timeout: float = 15.0) -> None:
        """Write the config, start Prosody and wait until c2s and proxy65 accept connections."""
        if shutil.which("prosody") is None:
            raise RuntimeError("prosody is not installed (apt-get install prosody lua-event)")
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        (self.directory / "certs").mkdir(exist_ok=True)
        if self.tls and not self.certificate.exists():
            make_self_signed_certificate(self.certificate, self._key)
        self.config_path.write_text(self.config_text())
        self._process = subprocess.Popen(
            ["prosody", "-F", "--config", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not (self._listening(self.c2s_port) and self._listening(self.proxy_port)):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Prosody did not start; see {self.directory}/prosody.log")
            time.sleep(0.02)

    @staticmethod
    def _listening(port: int) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    def register(self, user: str | None = None, password: str | None = None) -> Account:
        """Create an account (a fresh random one unless ``user`` is given)."""
        account = Account(user or f"u{secrets.token_hex(4)}", password or secrets.token_urlsafe(12))
        subprocess.run(
            [
                "prosodyctl",
                "--config",
                str(self.config_path),
                "register",
                account.user,
                DOMAIN,
                account.password,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return account

    def befriend(self, *accounts: Account) -> None:
        """Make every pair of ``accounts`` mutually subscribed (so PEP notifications flow).

        Writes the roster files directly; call before the accounts log in.
        """
        roster_dir = self.directory / "data" / DOMAIN / "roster"
        roster_dir.mkdir(parents=True, exist_ok=True)
        for account in accounts:
            items = "".join(
                f'  ["{other.jid}"] = {{ subscription = "both"; groups = {{}}; }};\n'
                for other in accounts
                if other is not account
            )
            (roster_dir / f"{account.user}.dat").write_text(
                f"return {{\n{items}  [false] = {{ version = 1; }};\n}};\n"
            )

    def restart(self, timeout: float = 15.0) -> None:
        """Stop the Prosody process and start it again: same ports, accounts and data. Every
        client loses its stream, as in a real server restart."""
        self._terminate()
        self.start(timeout)

    def stop(self) -> None:
        """Stop Prosody and remove its directory."""
        self._terminate()
        with contextlib.suppress(OSError):
            shutil.rmtree(self.directory)

    def _terminate(self) -> None:
        if self._process is not None:
            end_process(self._process)
            self._process = None

    def __enter__(self) -> ProsodyServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def log_tail(server: ProsodyServer, lines: int = 40) -> str:
    """The last lines of the server log, for error messages."""
    path = server.directory / "prosody.log"
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


__all__ = [
    "DOMAIN",
    "PROXY_JID",
    "Account",
    "ProsodyServer",
    "die_with_parent",
    "free_port",
    "log_tail",
    "make_self_signed_certificate",
]
