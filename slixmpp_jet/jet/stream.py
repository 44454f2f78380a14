"""The JET stream layer: a one-way stream wrapped in one AES-GCM pass (XEP-0391).

The wire format is what Dino, Conversations and Libervia use: the ciphertext of the whole
file, then the 16-byte GCM tag, no AAD; ``plaintext size + 16`` bytes in all, byte-identical
to ``AESGCM(key).encrypt(iv, plaintext, None)``. Both wrappers work in chunks, so memory
stays constant whatever the file size.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import NoReturn

from cryptography.exceptions import InvalidTag

from slixmpp_jet.errors import SecurityError
from slixmpp_jet.jet.ciphers import check_plaintext_size
from slixmpp_jet.jet.security import StreamSecurity
from slixmpp_jet.transports.base import (
    DEFAULT_CHUNK,
    BlockingReader,
    BlockingWriter,
    ByteSink,
    ByteSource,
)

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
        for ciphertext in self.seal(data):
            await self._inner.write(ciphertext)

    async def blocking_writer(self) -> BlockingWriter | None:
        """Encrypts in the worker thread onto ``inner``'s own blocking writer, if it has one."""
        inner = await self._inner.blocking_writer()
        return None if inner is None else _ThreadEncryptor(self, inner)

    def seal(self, data: bytes) -> Iterator[bytes]:
        """The ciphertext of ``data``, one chunk at a time (for :meth:`write` and a thread)."""
        if self._closed:
            raise io.UnsupportedOperation("write to a finished or aborted EncryptingSink")
        check_plaintext_size(self._written + len(data))
        self._written += len(data)
        view = memoryview(data)
        for start in range(0, len(view), ENCRYPT_CHUNK):
            yield self._encryptor.update(view[start : start + ENCRYPT_CHUNK])

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


class _ThreadEncryptor(BlockingWriter):
    """An :class:`EncryptingSink`'s writes, made by a worker thread."""

    def __init__(self, sink: EncryptingSink, inner: BlockingWriter) -> None:
        self._sink = sink
        self._inner = inner

    def write(self, data: bytes) -> None:
        for ciphertext in self._sink.seal(data):
            self._inner.write(ciphertext)

    def close(self) -> None:
        self._inner.close()


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
        while (wanted := self.wanted(max_bytes)) is not None:
            plaintext = self.open(await self._inner.read(wanted))
            if plaintext:
                return plaintext
        return b""

    async def blocking_reader(self) -> BlockingReader | None:
        """Decrypts in the worker thread from ``inner``'s own blocking reader, if it has one."""
        inner = await self._inner.blocking_reader()
        return None if inner is None else _ThreadDecryptor(self, inner)

    def abort(self) -> None:
        """Tear ``inner`` down."""
        self._inner.abort()

    def wanted(self, max_bytes: int) -> int | None:
        """What to ask ``inner`` for next; None once the whole stream verified."""
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}")
        if self._failure is not None:
            raise SecurityError(self._failure)
        return None if self._verified else min(max_bytes, self._remaining)

    def open(self, data: bytes) -> bytes:
        """The plaintext ``data`` (ciphertext read from ``inner``) yields now, maybe none."""
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
            return b""
        if self._remaining == 0:
            self._verify()
            plaintext, self._last = self._last + plaintext, b""
        return plaintext

    def _verify(self) -> None:
        try:
            self._decryptor.finalize_with_tag(self._tag)
        except InvalidTag:
            self._fail("the file failed the AES-GCM authentication check (wrong key or altered)")
        self._verified = True

    def _fail(self, message: str) -> NoReturn:
        self._failure = message
        raise SecurityError(message)


class _ThreadDecryptor(BlockingReader):
    """A :class:`DecryptingSource`'s reads, made by a worker thread."""

    def __init__(self, source: DecryptingSource, inner: BlockingReader) -> None:
        self._source = source
        self._inner = inner

    def read(self, max_bytes: int) -> bytes:
        while (wanted := self._source.wanted(max_bytes)) is not None:
            plaintext = self._source.open(self._inner.read(wanted))
            if plaintext:
                return plaintext
        return b""

    def close(self) -> None:
        self._inner.close()
