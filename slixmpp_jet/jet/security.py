"""One transfer's JET protection as one value, carried from the envelope to the cipher."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import AEADDecryptionContext, AEADEncryptionContext

from .ciphers import Cipher, validate_secret
from .envelope import TransportSecret


@dataclass(frozen=True)
class StreamSecurity:
    """The envelope that carried the secret, the cipher, the secret, and who sealed it.

    The secret is checked against the cipher (and normalised the lenient way deployed peers
    need) once, here, when the value is made; every cipher context comes from it. ``repr``
    never shows the secret.
    """

    envelope: str
    """The envelope's short name: ``"omemo"``, ``"openpgp"``."""
    cipher: Cipher
    secret: TransportSecret = field(repr=False)
    sender_identity: str | None = None
    """For a received secret: what authenticated the sealing party (device, key)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "secret", validate_secret(self.cipher, self.secret))

    def encryptor(self) -> AEADEncryptionContext:
        """A streaming AES-GCM encryptor with this secret."""
        return self.cipher.encryptor(self.secret)

    def decryptor(self) -> AEADDecryptionContext:
        """A streaming AES-GCM decryptor with this secret; the tag is given at the end."""
        return self.cipher.decryptor(self.secret)
