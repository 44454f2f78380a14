"""Moving file bytes between disk and a :class:`ByteStream`, hashing on the way.

The receiving side never writes to the destination: bytes go to a hidden temporary file beside
it, which becomes the destination only through :meth:`PartialFile.commit`, after the size, the
GCM tag and the hash have all checked out.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..errors import SecurityError, TransportError
from ..transports.base import ByteStream
from .names import unique_destination

CHUNK_SIZE = 128 * 1024


async def send_from_file(
    stream: ByteStream,
    source: BinaryIO,
    digest: Callable[[bytes], object],
    on_chunk: Callable[[int], None],
) -> None:
    """Stream ``source`` to its end, each chunk also fed to ``digest``, then end the stream.

    Ending the stream matters: some receivers and Prosody's proxy65 need the EOF.
    """
    while chunk := source.read(CHUNK_SIZE):
        digest(chunk)
        await stream.write(chunk)
        on_chunk(len(chunk))
    await stream.close()


async def receive_into_file(
    stream: ByteStream,
    sink: BinaryIO,
    size: int | None,
    digest: Callable[[bytes], object],
    on_chunk: Callable[[int], None],
    expect_end: bool,
) -> int:
    """Copy exactly ``size`` bytes (or, if unknown, up to EOF) into ``sink``; return the count.

    With ``expect_end`` the stream must then report its end (a decrypting stream verifies the
    GCM tag at that point). A stream that ends early raises :class:`TransportError`.
    """
    received = 0
    while size is None or received < size:
        wanted = CHUNK_SIZE if size is None else min(CHUNK_SIZE, size - received)
        chunk = await stream.read(wanted)
        if not chunk:
            if size is None:
                return received
            raise TransportError(f"the stream ended after {received} of {size} bytes")
        digest(chunk)
        sink.write(chunk)
        received += len(chunk)
        on_chunk(len(chunk))
    if expect_end and await stream.read(1):
        raise SecurityError("the stream carried more data than announced")
    return received


class PartialFile:
    """A hidden temporary file beside the destination, committed atomically or discarded."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        descriptor, path = tempfile.mkstemp(dir=directory, prefix=f".{name[:40]}.", suffix=".part")
        self.path = Path(path)
        self.file: BinaryIO = os.fdopen(descriptor, "wb")

    def commit(self, overwrite: bool) -> Path:
        """Move the complete file to its destination; never replaces a file unless told to."""
        self.file.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.path, 0o666 & ~umask)
        while True:
            destination = unique_destination(self.directory, self.name, overwrite)
            if overwrite:
                os.replace(self.path, destination)
                return destination
            try:
                os.link(self.path, destination)
            except FileExistsError:
                continue
            self.path.unlink()
            return destination

    def discard(self) -> None:
        """Remove the temporary file; nothing of it remains."""
        with contextlib.suppress(OSError):
            self.file.close()
        self.path.unlink(missing_ok=True)
