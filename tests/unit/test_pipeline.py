"""Disk ⇄ stream: durable commits, readable disk errors, no temporary file left, no stalled loop.

Real files in a temporary directory. A full disk is the kernel's own: ``/dev/full`` put in place
of the temporary file's descriptor. Nothing here measures time (see benchmarks/slow_disk.py).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import os
import stat
import tempfile
import threading
from pathlib import Path

import pytest
from memory_pipe import MemoryPipe
from socket_pair import connected_pair

from slixmpp_jet.errors import (
    LocalFileError,
    Reason,
    SecurityError,
    TransferError,
    TransportError,
)
from slixmpp_jet.file_transfer import pipeline
from slixmpp_jet.file_transfer.pipeline import (
    CHUNK_SIZE,
    WRITE_BATCH,
    PartialFile,
    receive_into_file,
    send_from_file,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]  # the timeout only stops a hang

NAME = "report.pdf"


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def ignore(_data: bytes) -> None:
    pass


def ignore_count(_count: int) -> None:
    pass


@pytest.fixture
def disk_behind(monkeypatch):
    """``disk_behind(descriptor)``: PartialFiles created next write to ``descriptor`` instead."""

    def replace(descriptor: int) -> None:
        real_mkstemp = tempfile.mkstemp

        def mkstemp(**options):
            temporary, path = real_mkstemp(**options)
            os.dup2(descriptor, temporary)
            return temporary, path

        monkeypatch.setattr(pipeline.tempfile, "mkstemp", mkstemp)

    return replace


async def receive(tmp_path: Path, payload: bytes, **pipe_options) -> PartialFile:
    partial = PartialFile(tmp_path, NAME)
    pipe = MemoryPipe(payload, eof=True, **pipe_options)
    assert await receive_into_file(pipe, partial, len(payload), ignore, ignore_count, True) == len(
        payload
    )
    return partial


# --- the round trip --------------------------------------------------------------------------


async def test_a_file_goes_through_a_pipe_to_its_destination(tmp_path: Path) -> None:
    outbox, inbox = tmp_path / "out", tmp_path / "in"
    outbox.mkdir()
    inbox.mkdir()
    payload = os.urandom(2 * WRITE_BATCH + 5 * CHUNK_SIZE + 17)
    (outbox / NAME).write_bytes(payload)
    pipe = MemoryPipe(capacity=2 * CHUNK_SIZE)
    sent, received = hashlib.sha256(), hashlib.sha256()
    counted: list[int] = []
    partial = PartialFile(inbox, NAME)

    async def send() -> None:
        with (outbox / NAME).open("rb") as reader:
            await send_from_file(pipe, reader, sent.update, counted.append)

    _, count = await asyncio.gather(
        send(), receive_into_file(pipe, partial, None, received.update, ignore_count, False)
    )
    assert pipe.finished
    assert count == sum(counted) == len(payload)
    assert sent.digest() == received.digest() == hashlib.sha256(payload).digest()
    destination = await partial.commit(overwrite=False)
    assert destination == inbox / NAME
    assert destination.read_bytes() == payload
    assert leftovers(inbox) == [NAME]
    assert stat.S_IMODE(destination.stat().st_mode) == 0o666 & ~pipeline.current_umask()


async def test_commit_never_replaces_a_file_unless_told_to(tmp_path: Path) -> None:
    (tmp_path / NAME).write_bytes(b"keep me")
    kept = await (await receive(tmp_path, b"new")).commit(overwrite=False)
    assert kept.name == "report (1).pdf"
    assert (tmp_path / NAME).read_bytes() == b"keep me"
    replaced = await (await receive(tmp_path, b"newer")).commit(overwrite=True)
    assert replaced == tmp_path / NAME
    assert replaced.read_bytes() == b"newer"
    assert leftovers(tmp_path) == sorted([NAME, "report (1).pdf"])


async def test_a_saved_file_follows_the_umask_without_changing_it(tmp_path: Path, monkeypatch):
    """Setting the umask, even for an instant, would give other threads' new files mode 0666."""
    previous = os.umask(0o027)
    try:
        changes: list[int] = []
        monkeypatch.setattr(os, "umask", changes.append)
        assert pipeline.current_umask() == 0o027
        saved = await (await receive(tmp_path, b"private")).commit(overwrite=False)
        assert stat.S_IMODE(saved.stat().st_mode) == 0o640
        assert changes == []
    finally:
        monkeypatch.undo()
        os.umask(previous)


async def test_short_writes_and_many_small_pieces_lose_nothing(tmp_path: Path, monkeypatch) -> None:
    real_write = os.write
    calls: list[int] = []

    def short_write(descriptor: int, data) -> int:
        calls.append(len(data))
        return real_write(descriptor, bytes(data[:777]))

    monkeypatch.setattr(os, "write", short_write)
    pieces = [os.urandom(size % 1500) for size in range(3000)]
    partial = PartialFile(tmp_path, NAME)
    for piece in pieces:
        await partial.write(piece)
    destination = await partial.commit(overwrite=False)
    assert destination.read_bytes() == b"".join(pieces)
    assert max(calls) > 777  # some writes were cut short and resumed


async def test_commit_fsyncs_the_file_before_naming_it_and_the_directory_after(
    tmp_path: Path, monkeypatch
) -> None:
    events: list[str] = []
    real_fsync, real_link = os.fsync, os.link

    def fsync(descriptor: int) -> None:
        kind = "directory" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file"
        size = os.fstat(descriptor).st_size
        events.append(f"fsync {kind}" + (f" of {size} bytes" if kind == "file" else ""))
        real_fsync(descriptor)

    def link(source, destination) -> None:
        events.append("link")
        real_link(source, destination)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "link", link)
    partial = await receive(tmp_path, b"x" * 1000)
    assert (await partial.commit(overwrite=False)).read_bytes() == b"x" * 1000
    assert events == ["fsync file of 1000 bytes", "link", "fsync directory"]


async def test_discard_removes_the_temporary_file_and_is_always_safe(tmp_path: Path) -> None:
    partial = await receive(tmp_path, b"unwanted")
    assert leftovers(tmp_path) == [partial.path.name]
    partial.discard()
    partial.discard()
    assert leftovers(tmp_path) == []
    with pytest.raises(LocalFileError, match="discarded"):
        await partial.write(b"late")


# --- a failing disk ----------------------------------------------------------------------------


needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")


def on_a_full_disk(tmp_path: Path, disk_behind) -> PartialFile:
    """A PartialFile whose every write fails with ENOSPC."""
    full = os.open("/dev/full", os.O_WRONLY)
    disk_behind(full)
    partial = PartialFile(tmp_path, NAME)
    os.close(full)
    return partial


@needs_dev_full
async def test_a_full_disk_is_a_readable_local_file_error_and_leaves_nothing(
    tmp_path: Path, disk_behind
) -> None:
    partial = on_a_full_disk(tmp_path, disk_behind)
    size = 3 * WRITE_BATCH  # the first batch fails while the second is gathered
    with pytest.raises(LocalFileError) as caught:
        await receive_into_file(
            MemoryPipe(os.urandom(size), eof=True), partial, size, ignore, ignore_count, False
        )
    assert str(caught.value) == (
        "could not write the temporary file for report.pdf: No space left on device"
    )
    assert caught.value.reason is Reason.FAILED_APPLICATION
    assert leftovers(tmp_path) == []
    with pytest.raises(LocalFileError, match="No space left"):
        await partial.commit(overwrite=False)
    partial.discard()
    assert leftovers(tmp_path) == []


async def test_a_failing_fsync_is_a_local_file_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch
) -> None:
    def fsync(_descriptor: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    partial = await receive(tmp_path, b"data")
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(LocalFileError) as caught:
        await partial.commit(overwrite=False)
    assert str(caught.value) == f"could not save report.pdf in {tmp_path}: Input/output error"
    assert leftovers(tmp_path) == []
    partial.discard()


async def test_no_temporary_file_where_none_can_be_made(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    with pytest.raises(LocalFileError) as caught:
        PartialFile(missing, NAME)
    assert str(caught.value) == (
        f"could not create a temporary file for report.pdf in {missing}: No such file or directory"
    )


async def test_a_failing_read_of_the_file_to_send_is_a_local_file_error() -> None:
    class Unreadable(io.BytesIO):
        name = "/home/alice/report.pdf"

        def read(self, _size: int | None = -1) -> bytes:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    pipe = MemoryPipe()
    with pytest.raises(LocalFileError, match=r"^could not read report.pdf: Input/output error$"):
        await send_from_file(pipe, Unreadable(), ignore, ignore_count)
    assert not pipe.finished


# --- other errors pass through -----------------------------------------------------------------


async def test_a_broken_or_short_stream_stays_a_transport_error(tmp_path: Path) -> None:
    partial = PartialFile(tmp_path, NAME)
    with pytest.raises(TransportError, match="ended after 3 of 10 bytes") as caught:
        await receive_into_file(MemoryPipe(b"abc", eof=True), partial, 10, ignore, ignore_count, 0)
    assert not isinstance(caught.value, LocalFileError)
    broken = MemoryPipe()
    broken.abort()
    with pytest.raises(TransportError, match="aborted"):
        await receive_into_file(broken, partial, 10, ignore, ignore_count, False)
    partial.discard()
    assert leftovers(tmp_path) == []


async def test_data_past_the_announced_size_stays_a_security_error(tmp_path: Path) -> None:
    partial = PartialFile(tmp_path, NAME)
    with pytest.raises(SecurityError, match="more data than announced"):
        await receive_into_file(MemoryPipe(b"abcd", eof=True), partial, 3, ignore, ignore_count, 1)
    partial.discard()


# --- the loop keeps running while the disk is stuck ------------------------------------------


async def test_a_stuck_write_does_not_hold_the_loop(tmp_path: Path, disk_behind) -> None:
    """The temporary file is a pipe nobody reads: its writes block until the test drains it."""
    drain, stuck = os.pipe()
    disk_behind(stuck)
    partial = PartialFile(tmp_path, NAME)
    os.close(stuck)
    batch = os.urandom(WRITE_BATCH)  # far more than a pipe holds
    await partial.write(batch)  # handed over; the disk thread is now stuck in it
    second = asyncio.ensure_future(partial.write(batch))
    for _ in range(10):
        await asyncio.sleep(0)  # the loop runs on
    assert not second.done()  # waiting for the stuck write, as back-pressure should
    drained = await asyncio.to_thread(read_exactly, drain, 2 * len(batch))
    await second
    assert drained == 2 * batch
    partial.discard()
    os.close(drain)
    assert leftovers(tmp_path) == []


async def test_a_stuck_read_of_the_file_to_send_does_not_hold_the_loop() -> None:
    """The file to send is a pipe that gets its data only after send_from_file started."""
    readable, writable = os.pipe()
    sink = MemoryPipe()
    with os.fdopen(readable, "rb") as reader:
        sending = asyncio.ensure_future(send_from_file(sink, reader, ignore, ignore_count))
        for _ in range(10):
            await asyncio.sleep(0)
        assert not sending.done()
        os.write(writable, b"late data")
        os.close(writable)
        await sending
    assert (sink.unread, sink.finished) == (b"late data", True)


async def test_cancelling_a_receive_leaves_no_file(tmp_path: Path) -> None:
    partial = PartialFile(tmp_path, NAME)
    pipe = MemoryPipe(os.urandom(CHUNK_SIZE))  # the rest never comes
    receiving = asyncio.ensure_future(
        receive_into_file(pipe, partial, 10 * CHUNK_SIZE, ignore, ignore_count, False)
    )
    for _ in range(10):
        await asyncio.sleep(0)
    receiving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await receiving
    partial.discard()
    assert leftovers(tmp_path) == []


def read_exactly(descriptor: int, size: int) -> bytes:
    parts = bytearray()
    while len(parts) < size:
        parts += os.read(descriptor, size - len(parts))
    return bytes(parts)


# --- over a socket: worker threads carry the bytes -------------------------------------------


async def test_a_file_goes_through_a_socket_in_worker_threads(tmp_path: Path) -> None:
    payload = os.urandom(5 * CHUNK_SIZE + 17)
    source = tmp_path / "source.bin"
    source.write_bytes(payload)
    sink, stream = await connected_pair()
    sent, received = hashlib.sha256(), hashlib.sha256()
    sent_counts: list[int] = []
    received_counts: list[int] = []
    partial = PartialFile(tmp_path, NAME)
    with source.open("rb") as reader:
        _, count = await asyncio.gather(
            send_from_file(sink, reader, sent.update, sent_counts.append),
            receive_into_file(
                stream, partial, len(payload), received.update, received_counts.append, True
            ),
        )
    destination = await partial.commit(overwrite=False)
    stream.abort()
    assert count == sum(sent_counts) == sum(received_counts) == len(payload)
    assert destination.read_bytes() == payload
    assert sent.digest() == received.digest() == hashlib.sha256(payload).digest()


async def test_more_data_than_announced_over_a_socket_is_a_security_error(tmp_path: Path) -> None:
    sink, stream = await connected_pair()
    await sink.write(b"abcd")
    await sink.finish()
    partial = PartialFile(tmp_path, NAME)
    with pytest.raises(SecurityError, match="more data than announced"):
        await receive_into_file(stream, partial, 3, ignore, ignore_count, True)
    partial.discard()
    stream.abort()
    assert leftovers(tmp_path) == []


async def test_an_unannounced_size_past_the_limit_over_a_socket_is_refused(tmp_path: Path) -> None:
    sink, stream = await connected_pair()
    await sink.write(os.urandom(3 * CHUNK_SIZE))
    partial = PartialFile(tmp_path, NAME)
    with pytest.raises(TransferError, match="goes on past") as caught:
        await receive_into_file(stream, partial, None, ignore, ignore_count, False, CHUNK_SIZE)
    assert caught.value.reason is Reason.MEDIA_ERROR
    partial.discard()
    sink.abort()
    stream.abort()
    assert leftovers(tmp_path) == []


@needs_dev_full
async def test_a_full_disk_under_a_socket_is_a_local_file_error(
    tmp_path: Path, disk_behind
) -> None:
    partial = on_a_full_disk(tmp_path, disk_behind)
    sink, stream = await connected_pair()
    await sink.write(os.urandom(CHUNK_SIZE))
    with pytest.raises(LocalFileError, match="No space left on device"):
        await receive_into_file(stream, partial, 2 * CHUNK_SIZE, ignore, ignore_count, False)
    assert leftovers(tmp_path) == []
    sink.abort()
    stream.abort()


async def test_cancelling_a_receive_from_a_socket_stops_its_thread(tmp_path: Path) -> None:
    sink, stream = await connected_pair()
    await sink.write(os.urandom(CHUNK_SIZE))  # the rest never comes: the thread waits
    partial = PartialFile(tmp_path, NAME)
    receiving = asyncio.ensure_future(
        receive_into_file(stream, partial, 10 * CHUNK_SIZE, ignore, ignore_count, False)
    )
    while not any(tmp_path.iterdir()) or next(tmp_path.iterdir()).stat().st_size < CHUNK_SIZE:
        await asyncio.sleep(0.01)
    receiving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await receiving
    partial.discard()
    with pytest.raises(TransportError, match="aborted"):
        await stream.read()  # the cancel aborted the stream, which ended the thread's read
    await disk_threads_ended()
    sink.abort()
    assert leftovers(tmp_path) == []


async def test_cancelling_a_send_over_a_socket_waits_for_its_thread(tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(64 * CHUNK_SIZE))  # more than the socket buffers hold
    sink, stream = await connected_pair()  # nobody reads ``stream``: the thread waits
    with source.open("rb") as reader:
        sending = asyncio.ensure_future(send_from_file(sink, reader, ignore, ignore_count))
        await asyncio.sleep(0.2)
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        position = reader.tell()
        await asyncio.sleep(0.1)
        assert reader.tell() == position  # the thread no longer reads the file
    with pytest.raises(TransportError, match="closed"):
        await sink.write(b"late")  # the cancel aborted the stream, which ended the send
    await disk_threads_ended()
    stream.abort()


async def disk_threads_ended() -> None:
    """Wait until no disk thread runs (the test's timeout stops a hang)."""
    while any(t.name.startswith(pipeline.DISK_THREAD) for t in threading.enumerate()):
        await asyncio.sleep(0.01)
