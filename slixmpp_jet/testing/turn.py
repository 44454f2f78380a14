"""A throwaway TURN/STUN server (Debian's ``coturn``) on loopback, for tests.

It listens on 127.0.0.1 only, on one free port for both UDP and TCP, without TLS or DTLS,
and relays from 127.0.0.1 to loopback peers too (``--allow-loopback-peers``; coturn refuses
them otherwise). Credentials are TURN REST ones (``--use-auth-secret``): the secret is shared
with Prosody's ``mod_turn_external`` (``ProsodyServer(turn=server.announcement)``), which
hands clients short-lived usernames and passwords; :meth:`TurnServer.credentials` makes the
same ones directly. Its realm is :attr:`TurnServer.realm`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from .prosody import die_with_parent, end_process

HOST = "127.0.0.1"
STUN_MAGIC_COOKIE = 0x2112A442
_BINDING_REQUEST = 0x0001
_BINDING_SUCCESS = 0x0101


def free_udp_tcp_port() -> int:
    """A port on 127.0.0.1 that is free for both UDP and TCP right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((HOST, 0))
            port: int = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind((HOST, port))
                except OSError:
                    continue
                return port


def stun_binding_answered(port: int, timeout: float = 0.2) -> bool:
    """Whether a STUN Binding request (RFC 5389) to 127.0.0.1:``port`` over UDP gets a
    success answer within ``timeout``."""
    transaction = os.urandom(12)
    request = struct.pack("!HHI", _BINDING_REQUEST, 0, STUN_MAGIC_COOKIE) + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.sendto(request, (HOST, port))
            answer = probe.recv(2048)
        except OSError:
            return False
    return answer[:2] == struct.pack("!H", _BINDING_SUCCESS) and answer[8:20] == transaction


@dataclass
class TurnServer:
    """Start with :meth:`start` (or ``with``); clients use :attr:`port` on :data:`HOST`."""

    realm: str = "localhost"
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    port: int = field(default_factory=free_udp_tcp_port)
    directory: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="jet-coturn-", dir="/tmp"))
    )
    _process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / "turnserver.log"

    @property
    def announcement(self) -> tuple[str, int, str]:
        """``(host, port, secret)``: what ``ProsodyServer(turn=...)`` takes."""
        return HOST, self.port, self.secret

    def credentials(self, ttl: int = 3600, user: str = "jet") -> tuple[str, str]:
        """TURN REST credentials valid for ``ttl`` seconds, as Prosody's
        ``mod_external_services`` makes them: username ``<expiry>:<user>``, password the
        base64 HMAC-SHA1 of the username under the secret."""
        username = f"{int(time.time()) + ttl}:{user}"
        digest = hmac.new(self.secret.encode(), username.encode(), hashlib.sha1).digest()
        return username, base64.b64encode(digest).decode()

    def command(self) -> list[str]:
        """The ``turnserver`` command line :meth:`start` runs."""
        return [
            "turnserver", "-n",  # no configuration file: everything is here
            "--listening-ip", HOST, "--relay-ip", HOST,
            "--listening-port", str(self.port),
            "--use-auth-secret", "--static-auth-secret", self.secret, "--realm", self.realm,
            "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli", "--no-rfc5780",
            "--userdb", str(self.directory / "turndb"),
            "--pidfile", str(self.directory / "turnserver.pid"),
            "--log-file", str(self.log_path), "--simple-log", "--no-stdout-log",
        ]  # fmt: skip

    def start(self, timeout: float = 15.0) -> None:
        """Start ``turnserver`` and wait until it answers STUN over UDP and accepts TCP."""
        if shutil.which("turnserver") is None:
            raise RuntimeError("coturn is not installed (apt-get install coturn)")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not (stun_binding_answered(self.port) and self._accepts_tcp()):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"turnserver did not start; see {self.log_path}")
            time.sleep(0.02)

    def _accepts_tcp(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex((HOST, self.port)) == 0

    def stop(self) -> None:
        """Stop ``turnserver`` and remove its directory."""
        if self._process is not None:
            end_process(self._process)
            self._process = None
        with contextlib.suppress(OSError):
            shutil.rmtree(self.directory)

    def __enter__(self) -> TurnServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = ["HOST", "TurnServer", "free_udp_tcp_port", "stun_binding_answered"]
