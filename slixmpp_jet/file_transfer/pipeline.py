"""Moving file bytes between disk and a one-way stream, hashing on the way.

The receiving side never writes to the destination: bytes go to a hidden temporary file beside
it, which becomes the destination only through :meth:`PartialFile.commit`, after the size, the
GCM tag and the hash have all checked out. The commit fsyncs the file and then its directory,
so a completed transfer survives a crash.

Blocking disk calls run in one worker thread per file, at most one chunk ahead of the network
(or behind it), so a slow disk slows its own transfer and never the event loop. Hashing runs in
that thread too, beside the read or write of the same bytes (hashlib releases the GIL), so
SHA-256 no longer competes with the network for the event loop. Where the transport lets a
thread use the stream (SOCKS5: a plain TCP socket), that thread moves the bytes as well (read,
hash, encrypt, send; receive, decrypt, hash, write) with blocking calls, and the event loop
only hears of the progress: a busy loop no longer slows the data, nor the data the loop. A
failing disk raises :class:`~slixmpp_jet.errors.LocalFileError`; transport and security errors
pass through.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from ..errors import LocalFileError, Reason, SecurityError, TransferError, TransportError
from ..transports.base import BlockingReader, BlockingWriter, ByteSink, ByteSource
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

DISK_THREAD = "slixmpp-jet-disk"
"""The name of every disk thread (a prefix: Python numbers them)."""
PROGRESS_INTERVAL = 0.05
"""Seconds between a worker thread's progress reports to the event loop. Each one wakes the
loop, which takes the GIL from the worker: JET over direct SOCKS5 ran at 0.95 to 1.05 times
the limit with this, 0.63 to 0.92 with a report per 256 KiB chunk (four rounds side by side).
The idle timeout, in seconds, needs no finer news."""
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

    Where the transport lets a thread write (SOCKS5), the worker thread reads, digests and
    sends every chunk, off the event loop. Otherwise the next chunk is read and digested in
    the thread while this one is sent from the loop. Finishing matters: some receivers and
    Prosody's proxy65 need the EOF. A failing read raises LocalFileError.
    """
    disk = _DiskThread()
    try:
        writer = await sink.blocking_writer()
        if writer is None:
            await _send_from_loop(disk, sink, source, digest, on_chunk)
        else:
            progress = _Progress(on_chunk)
            pump = functools.partial(_pump_out, source, digest, writer, progress.add)
            await _off_loop(disk.run(pump), sink, f"could not read {_name_of(source)}")
            progress.deliver()
        await sink.finish()
    finally:
        disk.close()


async def _send_from_loop(
    disk: _DiskThread,
    sink: ByteSink,
    source: BinaryIO,
    digest: Digest,
    on_chunk: Callable[[int], None],
) -> None:
    read = functools.partial(_read_and_digest, source, digest)
    failed = f"could not read {_name_of(source)}"
    ahead = disk.run(read)
    try:
        while chunk := await _outcome(ahead, failed):
            ahead = disk.run(read)
            await sink.write(chunk)
            on_chunk(len(chunk))
    finally:
        # The caller closes ``source`` next: no read of ours may still be running then.
        await _settled(ahead)


def _pump_out(
    source: BinaryIO, digest: Digest, writer: BlockingWriter, progress: Callable[[int], None]
) -> None:
    """In the worker: read, digest and send ``source`` to its end."""
    try:
        while chunk := _read_and_digest(source, digest):
            writer.write(chunk)
            progress(len(chunk))
    finally:
        writer.close()


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
    :class:`TransferError` (``media-error``); the disk failing raises LocalFileError. Where
    the transport lets a thread read (SOCKS5), the disk thread reads the stream as well, and
    the event loop only hears of the progress.
    """
    intake = _Intake(size, limit, expect_end)
    reader = await source.blocking_reader()
    if reader is None:
        while wanted := intake.wanted():
            chunk = await source.read(wanted)
            if not intake.took(chunk):
                break
            await partial.write(chunk, digest)
            on_chunk(len(chunk))
        if intake.awaits_end:
            intake.check_end(await source.read(1))
    else:
        progress = _Progress(on_chunk)
        try:
            await partial.fill(functools.partial(_pour_in, reader, intake, digest, progress.add))
        except asyncio.CancelledError:
            source.abort()  # the thread's read under way ends with it
            raise
        progress.deliver()
    await partial.flush()
    return intake.received


def _pour_in(
    reader: BlockingReader,
    intake: _Intake,
    digest: Digest,
    progress: Callable[[int], None],
    write: Callable[[bytes, Digest], None],
) -> None:
    """In the worker: what :func:`receive_into_file` does on the loop, with blocking reads."""
    try:
        while wanted := intake.wanted():
            chunk = reader.read(wanted)
            if not intake.took(chunk):
                break
            write(chunk, digest)
            progress(len(chunk))
        if intake.awaits_end:
            intake.check_end(reader.read(1))
    finally:
        reader.close()


class _Intake:
    """The rules of :func:`receive_into_file` for every chunk, whoever reads the stream."""

    def __init__(self, size: int | None, limit: int | None, expect_end: bool) -> None:
        self.size = size
        self.limit = limit
        self.awaits_end = size is not None and expect_end
        self.received = 0

    def wanted(self) -> int:
        """Bytes to ask for next; 0 once all the announced size is in."""
        if self.size is None:
            return CHUNK_SIZE
        return min(CHUNK_SIZE, self.size - self.received)

    def took(self, chunk: bytes) -> bool:
        """Count ``chunk``; False at the end of a stream of unknown size."""
        if not chunk:
            if self.size is None:
                return False
            raise TransportError(f"the stream ended after {self.received} of {self.size} bytes")
        if self.size is None and self.limit is not None and self.received + len(chunk) > self.limit:
            raise TransferError(
                f"the file (of unannounced size) goes on past {self.limit} bytes, the most "
                "accepted",
                reason=Reason.MEDIA_ERROR,
            )
        self.received += len(chunk)
        return True

    def check_end(self, extra: bytes) -> None:
        """``extra``, read after the announced size, must be the end."""
        if extra:
            raise SecurityError("the stream carried more data than announced")


class _Progress:
    """Counts that a worker thread adds, handed to the event loop's ``on_chunk`` in batches:
    the first at once, then at most one per :data:`PROGRESS_INTERVAL`, and the rest by a last
    :meth:`deliver` on the loop."""

    def __init__(self, on_chunk: Callable[[int], None]) -> None:
        self._on_chunk = on_chunk
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._count = 0
        self._posted = False
        self._next_post = 0.0

    def add(self, count: int) -> None:
        """In the worker."""
        with self._lock:
            self._count += count
            now = time.monotonic()
            if self._posted or now < self._next_post:
                return
            self._posted, self._next_post = True, now + PROGRESS_INTERVAL
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
            self._loop.call_soon_threadsafe(self.deliver)

    def deliver(self) -> None:
        """On the loop: report what came since the last call."""
        with self._lock:
            count, self._count, self._posted = self._count, 0, False
        if count:
            self._on_chunk(count)


async def _off_loop(running: asyncio.Future[T], end: ByteSink, what: str) -> T:
    """The outcome of a copy running in a worker; cancelled, it aborts ``end`` (which ends
    the thread's transfer under way) and waits for the thread to let go."""
    try:
        return await _outcome(running, what)
    except asyncio.CancelledError:
        end.abort()
        await _settled(running)
        raise


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

    async def fill(self, pour: Callable[[Callable[[bytes, Digest], None]], None]) -> None:
        """Run ``pour`` in the disk thread with a function that digests and writes a chunk
        there and then (and raises once the file was discarded); raises as :meth:`write`."""
        await self.flush()
        self._pending = self._disk.run(functools.partial(pour, self._write_now))
        await self._settle(self._write_failed)

    async def flush(self) -> None:
        """Wait until everything written so far is written (and digested); raises if it failed."""
        await self._hand_over()
        await self._settle(self._write_failed)

    async def commit(self, overwrite: bool) -> Path:
        """Fsync the file, give it its final name, fsync the directory; return the path.

        Never replaces a file unless told to.
        """
        await self.flush()
        mode = 0o666 & ~current_umask()
        self._pending = self._disk.run(functools.partial(self._save, mode, overwrite))
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

    def _write_now(self, data: bytes, digest: Digest) -> None:
        """In the worker, for :meth:`fill`."""
        if self._failure is not None:
            raise LocalFileError(self._failure)
        self._write_all([(data, digest)])

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
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=DISK_THREAD)
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


def current_umask() -> int:
    """The process's umask, read from ``/proc`` without touching it (Linux 4.7 and later).

    Elsewhere it is set and put back at once; other threads creating files in that instant
    would get mode 0666, which is why ``/proc`` comes first.
    """
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii") as status,
    ):
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    umask = os.umask(0)
    os.umask(umask)
    return umask
