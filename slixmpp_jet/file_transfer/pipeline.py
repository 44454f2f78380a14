"""Moving file bytes between disk and a one-way stream, hashing on the way.

The receiving side never writes to the destination: bytes go to a hidden temporary file beside
it, which becomes the destination only through :meth:`PartialFile.commit`, after the size, the
GCM tag and the hash have all checked out. The commit fsyncs the file and then its directory,
so a completed transfer survives a crash.

Blocking disk calls run in one worker thread per file, at most one chunk ahead of the network
(or behind it), so a slow disk slows its own transfer and never the event loop. Hashing runs in
that thread too, beside the read or write of the same bytes (hashlib releases the GIL), so
SHA-256 no longer competes with the network for the event loop. A failing disk raises
:class:`~slixmpp_jet.errors.LocalFileError`; transport and security errors pass through.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from ..errors import LocalFileError, Reason, SecurityError, TransferError, TransportError
from ..transports.base import ByteSink, ByteSource
from .names import unique_destination

CHUNK_SIZE = 256 * 1024
"""Bytes asked of the stream per read: one batch of :data:`WRITE_BATCH`, so that a fast
stream costs one turn of the receiving loop and one hand-over to the disk per batch."""
READ_SIZE = 256 * 1024
"""Bytes read from the file to send per hand-over to the disk thread (measured faster than
128 KiB with the one-process benchmark that preceded ``python -m benchmarks``)."""
WRITE_BATCH = 256 * 1024
"""Received bytes gathered before one hand-over to the disk thread, which writes them piece by
piece. Measured with that benchmark and a receive-only loop: smaller batches cost
more hand-overs; larger ones, or one writev() per batch, were slower (colder memory)."""

_UNSYNCABLE_DIRECTORY = {errno.EINVAL, errno.ENOTSUP, errno.EACCES}
"""Errors meaning the file system cannot (or we may not) fsync a directory: nothing to do."""

T = TypeVar("T")
Digest = Callable[[bytes], object]
"""Something fed every byte in order, such as ``hashlib`` ``update``."""


async def send_from_file(
    sink: ByteSink,
    source: BinaryIO,
    digest: Digest,
    on_chunk: Callable[[int], None],
) -> None:
    """Stream ``source`` to its end, each chunk also fed to ``digest``, then finish ``sink``.

    The next chunk is read and digested in a worker thread while this one is sent. Finishing
    matters: some receivers and Prosody's proxy65 need the EOF. A failing read raises
    LocalFileError.
    """
    disk = _DiskThread()
    read = functools.partial(_read_and_digest, source, digest)
    failed = f"could not read {_name_of(source)}"
    ahead = disk.run(read)
    try:
        while chunk := await _outcome(ahead, failed):
            ahead = disk.run(read)
            await sink.write(chunk)
            on_chunk(len(chunk))
        await sink.finish()
    finally:
        # The caller closes ``source`` next: no read of ours may still be running then.
        await _settled(ahead)
        disk.close()


async def receive_into_file(
    source: ByteSource,
    partial: PartialFile,
    size: int | None,
    digest: Digest,
    on_chunk: Callable[[int], None],
    expect_end: bool,
    limit: int | None = None,
) -> int:
    """Copy exactly ``size`` bytes (or, if unknown, up to the end) into ``partial``, each chunk
    fed to ``digest`` in the disk thread; ``digest`` has seen every byte once this returns.

    Returns the count. With ``expect_end`` the source must then report its end (a decrypting
    source verifies the GCM tag at that point). A source that ends early raises
    :class:`TransportError`; one of unknown size that goes on past ``limit`` bytes raises
    :class:`TransferError` (``media-error``); the disk failing raises LocalFileError.
    """
    received = 0
    while size is None or received < size:
        wanted = CHUNK_SIZE if size is None else min(CHUNK_SIZE, size - received)
        chunk = await source.read(wanted)
        if not chunk:
            if size is None:
                break
            raise TransportError(f"the stream ended after {received} of {size} bytes")
        if size is None and limit is not None and received + len(chunk) > limit:
            raise TransferError(
                f"the file (of unannounced size) goes on past {limit} bytes, the most accepted",
                reason=Reason.MEDIA_ERROR,
            )
        await partial.write(chunk, digest)
        received += len(chunk)
        on_chunk(len(chunk))
    if size is not None and expect_end and await source.read(1):
        raise SecurityError("the stream carried more data than announced")
    await partial.flush()
    return received


def ensure_room(directory: Path, name: str, size: int | None, margin: int = 0) -> None:
    """Refuse, before any byte moves, a file of ``size`` bytes that cannot fit in ``directory``
    while leaving ``margin`` bytes free (``LocalFileError``); an unknown size is checked as it
    arrives, by the disk itself."""
    if size is None:
        return
    try:
        free = shutil.disk_usage(directory).free
    except OSError as error:
        raise LocalFileError(
            f"could not check the free space in {directory}: {_why(error)}"
        ) from error
    if size + margin > free:
        kept = f", {margin} of which must stay free" if margin else ""
        raise LocalFileError(
            f"no room for {name} in {directory}: {size} bytes announced, {free} bytes free{kept}"
        )


class PartialFile:
    """A hidden temporary file beside the destination, committed atomically or discarded.

    Writes go to its own worker thread in batches of :data:`WRITE_BATCH` bytes, one batch
    behind the caller. After any disk error the temporary file is already gone; :meth:`discard`
    is always safe to call.
    """

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        try:
            descriptor, path = tempfile.mkstemp(
                dir=directory, prefix=f".{name[:40]}.", suffix=".part"
            )
        except OSError as error:
            raise LocalFileError(
                f"could not create a temporary file for {name} in {directory}: {_why(error)}"
            ) from error
        self.path = Path(path)
        self._descriptor = descriptor
        self._open = True
        """Until the disk thread closes the descriptor; only that thread uses it."""
        self._disk = _DiskThread()
        self._pending: asyncio.Future[Any] | None = None
        self._failure: str | None = None
        self._batch: list[tuple[bytes, Digest | None]] = []
        self._batched = 0

    async def write(self, data: bytes, digest: Digest | None = None) -> None:
        """Add ``data`` (to be fed to ``digest`` in the disk thread, just before it is written);
        a full batch waits only for the previous one, and raises if it failed."""
        if self._failure is not None:
            raise LocalFileError(self._failure)
        self._batch.append((data, digest))
        self._batched += len(data)
        if self._batched >= WRITE_BATCH:
            await self._hand_over()

    async def flush(self) -> None:
        """Wait until everything written so far is written (and digested); raises if it failed."""
        await self._hand_over()
        await self._settle(self._write_failed)

    async def commit(self, overwrite: bool) -> Path:
        """Fsync the file, give it its final name, fsync the directory; return the path.

        Never replaces a file unless told to.
        """
        await self.flush()
        umask = os.umask(0)
        os.umask(umask)
        self._pending = self._disk.run(functools.partial(self._save, 0o666 & ~umask, overwrite))
        destination: Path = await self._settle(f"could not save {self.name} in {self.directory}")
        self._failure = f"the temporary file for {self.name} was already committed"
        self._pending = self._disk.run(functools.partial(_sync_directory, self.directory))
        try:
            await _outcome(
                self._pending, f"saved {destination}, but could not flush its directory to disk"
            )
        finally:
            self._pending = None
            self._disk.close()
        return destination

    def discard(self) -> None:
        """Remove the temporary file at once; its descriptor closes once the disk is done."""
        if self._failure is None:
            self._failure = f"the temporary file for {self.name} was discarded"
        self.path.unlink(missing_ok=True)
        self._batch, self._batched = [], 0
        if self._pending is not None:
            _forget(self._pending)
            self._pending = None
        self._disk.close(self._close)

    @property
    def _write_failed(self) -> str:
        return f"could not write the temporary file for {self.name}"

    async def _hand_over(self) -> None:
        """Send the batch to the disk thread once the previous one is written."""
        await self._settle(self._write_failed)
        batch, self._batch, self._batched = self._batch, [], 0
        if batch:
            self._pending = self._disk.run(functools.partial(self._write_all, batch))

    async def _settle(self, what: str) -> Any:
        """The outcome of the disk call under way; its failure discards the file and raises."""
        if self._failure is not None:
            raise LocalFileError(self._failure)
        if self._pending is None:
            return None
        try:
            return await _outcome(self._pending, what)
        except LocalFileError as error:
            self._failure = str(error)
            self.discard()
            raise
        finally:
            if self._pending is not None and self._pending.done():
                self._pending = None

    def _write_all(self, parts: list[tuple[bytes, Digest | None]]) -> None:
        """In the worker: digest and write every part, each with its own system call (see
        WRITE_BATCH)."""
        for part, digest in parts:
            if digest is not None:
                digest(part)
            view = memoryview(part)
            while view:
                view = view[os.write(self._descriptor, view) :]

    def _close(self) -> None:
        """In the worker: close the descriptor, once."""
        if self._open:
            self._open = False
            os.close(self._descriptor)

    def _save(self, mode: int, overwrite: bool) -> Path:
        """In the worker: make the data durable, then give it its final name."""
        os.fsync(self._descriptor)
        self._close()
        os.chmod(self.path, mode)
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


class _DiskThread:
    """One worker thread for one file: its blocking calls run there, in order, off the loop."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slixmpp-jet-disk")
        self._closed = False

    def run(self, call: Callable[[], T]) -> asyncio.Future[T]:
        """Start ``call`` after those queued before it."""
        return asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self, last: Callable[[], object] | None = None) -> None:
        """Run ``last`` after everything queued, then end the thread; returns at once.

        Later calls do nothing.
        """
        if self._closed:
            return
        self._closed = True
        if last is not None:
            self._executor.submit(last)
        self._executor.shutdown(wait=False)


async def _outcome(call: asyncio.Future[T], what: str) -> T:
    """The result of a disk call; its OSError becomes a LocalFileError saying ``what`` failed.

    Shielded: a cancelled caller stops waiting, the disk call still runs to its end.
    """
    try:
        return await asyncio.shield(call)
    except OSError as error:
        raise LocalFileError(f"{what}: {_why(error)}") from error


async def _settled(call: asyncio.Future[Any]) -> None:
    """Wait until ``call`` is over, whatever its outcome (already reported, or moot)."""
    with contextlib.suppress(Exception):
        await asyncio.wait([call])
    _forget(call)


def _forget(call: asyncio.Future[T]) -> None:
    """Retrieve the outcome of a call nobody awaits, so that asyncio does not report it."""
    call.add_done_callback(lambda done: done.cancelled() or done.exception())


def _sync_directory(directory: Path) -> None:
    """Fsync ``directory``, so that a new name in it survives a crash."""
    try:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        if error.errno in _UNSYNCABLE_DIRECTORY:
            return
        raise
    try:
        os.fsync(descriptor)
    except OSError as error:
        if error.errno not in _UNSYNCABLE_DIRECTORY:
            raise
    finally:
        os.close(descriptor)


def _read_and_digest(source: BinaryIO, digest: Digest) -> bytes:
    """In the worker: the next chunk of ``source``, already fed to ``digest``."""
    chunk = source.read(READ_SIZE)
    digest(chunk)
    return chunk


def _name_of(source: BinaryIO) -> str:
    name = getattr(source, "name", None)
    return Path(name).name if isinstance(name, str) else "the file"


def _why(error: OSError) -> str:
    return error.strerror or str(error)
