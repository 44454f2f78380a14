"""The JET stream layer: a one-way stream wrapped in one AES-GCM pass (XEP-0391).

The wire format is what Dino, Conversations and Libervia use: the ciphertext of the whole
file, then the 16-byte GCM tag, no AAD; ``plaintext size + 16`` bytes in all, byte-identical
to ``AESGCM(key).encrypt(iv, plaintext, None)``. Both wrappers work in chunks, so memory
stays constant whatever the file size.
"""

from __future__ import annotations

import io
from typing import NoReturn

from cryptography.exceptions import InvalidTag

from slixmpp_jet.errors import SecurityError
from slixmpp_jet.jet.ciphers import check_plaintext_size
from slixmpp_jet.jet.security import StreamSecurity
from slixmpp_jet.transports.base import DEFAULT_CHUNK, ByteSink, ByteSource

ENCRYPT_CHUNK = 256 * 1024
"""Plaintext encrypted and handed on at once: what the file pipeline reads per turn, so one
write of it is one cipher call and one socket write (64 KiB pieces cost four of each)."""


class EncryptingSink(ByteSink):
    """Encrypts what is written to it onto ``inner``; :meth:`finish` appends the tag."""

    def __init__(self, inner: ByteSink, security: StreamSecurity) -> None:
        self._inner = inner
        self._encryptor = security.encryptor()
        self._written = 0
        self._closed = False

    async def write(self, data: bytes) -> None:
        """Encrypt ``data`` and send the ciphertext, one chunk at a time."""
        if self._closed:
            raise io.UnsupportedOperation("write to a finished or aborted EncryptingSink")
        check_plaintext_size(self._written + len(data))
        self._written += len(data)
        view = memoryview(data)
        for start in range(0, len(view), ENCRYPT_CHUNK):
            await self._inner.write(self._encryptor.update(view[start : start + ENCRYPT_CHUNK]))

    async def finish(self) -> None:
        """Send the 16-byte tag, then finish ``inner``. A second call does nothing."""
        if self._closed:
            return
        self._closed = True
        self._encryptor.finalize()
        await self._inner.write(self._encryptor.tag)
        await self._inner.finish()

    def abort(self) -> None:
        """Tear ``inner`` down without sending the tag."""
        self._closed = True
        self._inner.abort()


class DecryptingSource(ByteSource):
    """Reads exactly ``plaintext_size + 16`` bytes from ``inner`` and decrypts them.

    :meth:`read` returns plaintext that is **not yet authenticated**: write it only to a
    temporary file. The tag is checked when the last byte arrives; the final ``b""`` means it
    matched. A wrong tag, or a stream that ends early, raises :class:`SecurityError` (and so
    does every later read). Nothing past ``plaintext_size + 16`` is read, and no EOF is
    awaited after it.
    """

    def __init__(self, inner: ByteSource, security: StreamSecurity, plaintext_size: int) -> None:
        check_plaintext_size(plaintext_size)
        self._inner = inner
        self._decryptor = security.decryptor()
        self._tag_size = security.cipher.tag_size
        self._expected = plaintext_size + self._tag_size
        self._remaining = self._expected
        self._tag = b""
        self._last = b""
        self._verified = False
        self._failure: str | None = None

    async def read(self, max_bytes: int = DEFAULT_CHUNK) -> bytes:
        """Up to ``max_bytes`` bytes of plaintext; ``b""`` once the whole stream verified."""
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}")
        if self._failure is not None:
            raise SecurityError(self._failure)
        while not self._verified:
            data = await self._inner.read(min(max_bytes, self._remaining))
            if not data:
                self._fail(
                    f"the encrypted stream ended after {self._expected - self._remaining} of "
                    f"{self._expected} bytes (file and tag)"
                )
            # The stream's length is known, so is where the tag starts: decrypt up to there,
            # without holding back (and copying) the last bytes of every chunk.
            cut = min(len(data), max(self._remaining - self._tag_size, 0))
            self._remaining -= len(data)
            if cut < len(data):
                self._tag += data[cut:]
                data = data[:cut]
            plaintext = self._decryptor.update(data)
            if 0 < self._remaining <= self._tag_size:
                # All the file is in, the tag not yet: its last plaintext waits for the tag.
                self._last += plaintext
                continue
            if self._remaining == 0:
                self._verify()
                plaintext, self._last = self._last + plaintext, b""
            if plaintext:
                return plaintext
        return b""

    def abort(self) -> None:
        """Tear ``inner`` down."""
        self._inner.abort()

    def _verify(self) -> None:
        try:
            self._decryptor.finalize_with_tag(self._tag)
        except InvalidTag:
            self._fail("the file failed the AES-GCM authentication check (wrong key or altered)")
        self._verified = True

    def _fail(self, message: str) -> NoReturn:
        self._failure = message
        raise SecurityError(message)
