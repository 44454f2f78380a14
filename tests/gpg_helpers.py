"""Throwaway GnuPG homes for tests: real gpg, fast ed25519/cv25519 keys, agents killed after."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import gnupg

_KEY_BATCH = """\
Key-Type: EDDSA
Key-Curve: ed25519
Key-Usage: sign
Subkey-Type: ECDH
Subkey-Curve: cv25519
Subkey-Usage: encrypt
Name-Real: {uid}
Expire-Date: 0
%no-protection
%commit
"""


class GpgHome:
    """One party's GNUPGHOME: short, under /tmp, mode 0700 (gpg-agent's socket path is limited)."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="jetgpg", dir="/tmp"))
        self.path.chmod(0o700)
        self.gpg = gnupg.GPG(gnupghome=str(self.path))

    def new_key(self, uid: str, can_encrypt: bool = True) -> str:
        """Generate a key whose only user id is exactly ``uid`` (without an encryption subkey
        unless ``can_encrypt``); return its fingerprint."""
        batch = _KEY_BATCH.format(uid=uid)
        if not can_encrypt:
            batch = "".join(line for line in batch.splitlines(True) if "Subkey" not in line)
        result = self.gpg.gen_key(batch)
        assert result.fingerprint, result.stderr
        return str(result.fingerprint)

    def public_key(self, fingerprint: str) -> bytes:
        data = self.gpg.export_keys(fingerprint, armor=False)
        assert data, f"no key {fingerprint}"
        return bytes(data)

    def learn(self, other: GpgHome, fingerprint: str) -> None:
        """Import ``other``'s public key ``fingerprint`` into this home."""
        result = self.gpg.import_keys(other.public_key(fingerprint))
        assert fingerprint in result.fingerprints, result.summary()

    def encrypt(self, plaintext: str, recipients: list[str], sign: str | None) -> bytes:
        """A binary OpenPGP message, signed by ``sign`` unless it is ``None``."""
        result = self.gpg.encrypt(
            plaintext.encode(), recipients, sign=sign, armor=False, always_trust=True
        )
        assert result.ok, result.status
        return bytes(result.data)

    def close(self) -> None:
        subprocess.run(
            ["gpgconf", "--homedir", str(self.path), "--kill", "all"], check=False, timeout=30
        )
        shutil.rmtree(self.path, ignore_errors=True)


@contextmanager
def gpg_homes() -> Iterator[Callable[[], GpgHome]]:
    """Yields a maker of fresh :class:`GpgHome` objects; every home made is closed on exit."""
    made: list[GpgHome] = []

    def make() -> GpgHome:
        made.append(GpgHome())
        return made[-1]

    try:
        yield make
    finally:
        for home in made:
            home.close()
