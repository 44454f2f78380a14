"""A slow disk must not stall the event loop: one transfer into a slow disk, another beside it.

Run: ``python benchmarks/slow_disk.py [--slow-mib 16 --rate 8 --fast-mib 128]`` (no server
needed). The slow "disk" is one file whose writes first stall ``size / rate`` seconds (a sleep
in the writing thread, as a saturated disk would block it). While a transfer writes into it, a
second transfer writes to a normal file and a ticker measures how late ``asyncio.sleep(0.01)``
wakes up.

The same run is done twice: with the previous design (blocking writes on the event loop) as the
baseline, then with :mod:`slixmpp_jet.file_transfer.pipeline` (writes in a worker thread, then
commit with fsync).
Nothing is asserted: speed is measured here, never in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import BinaryIO
from unittest import mock

from slixmpp_jet.file_transfer import pipeline
from slixmpp_jet.file_transfer.pipeline import PartialFile, receive_into_file
from slixmpp_jet.transports.base import DEFAULT_CHUNK, ByteSource

MIB = 1024 * 1024
BLOCK = os.urandom(MIB)


class NetworkSource(ByteSource):
    """``size`` bytes as a fast network delivers them: 64 KiB per read, the loop runs between."""

    def __init__(self, size: int) -> None:
        self._left = size

    async def read(self, max_bytes: int = DEFAULT_CHUNK) -> bytes:
        await asyncio.sleep(0)
        size = min(max_bytes, DEFAULT_CHUNK, self._left)
        self._left -= size
        start = self._left % (MIB - DEFAULT_CHUNK)
        return BLOCK[start : start + size]

    def abort(self) -> None:
        self._left = 0


class SlowDisk:
    """Writes to one file take ``len / rate`` seconds more, in whatever thread makes them."""

    def __init__(self, path: Path, rate: float) -> None:
        self._inode = os.stat(path).st_ino
        self._rate = rate * MIB
        self._write = os.write
        self.stalled = 0
        """Bytes written to the slow file so far."""

    def stall(self, descriptor: int, size: int) -> None:
        if os.fstat(descriptor).st_ino == self._inode:
            self.stalled += size
            time.sleep(size / self._rate)

    def write(self, descriptor: int, data: memoryview) -> int:
        """Stands in for ``os.write``, which the pipeline's disk thread calls."""
        self.stall(descriptor, len(data))
        return self._write(descriptor, data)

    def file(self, path: Path) -> SlowFile:
        return SlowFile(self, path)


class SlowFile:
    """A file opened for writing whose every write stalls on the slow disk."""

    def __init__(self, disk: SlowDisk, path: Path) -> None:
        self._disk = disk
        self._file = path.open("wb")

    def write(self, data: bytes) -> None:
        self._disk.stall(self._file.fileno(), len(data))
        self._file.write(data)

    def close(self) -> None:
        self._file.close()


class Ticker:
    """How late ``asyncio.sleep(0.01)`` returns while the transfers run."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lags.append(time.perf_counter() - start - 0.01)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def ignore(_value: object) -> None:
    pass


async def timed(work: Awaitable[object]) -> float:
    start = time.perf_counter()
    await work
    return time.perf_counter() - start


async def blocking_receive(source: ByteSource, file: BinaryIO | SlowFile, size: int) -> None:
    """The previous design: each chunk written on the event loop."""
    try:
        received = 0
        while received < size:
            chunk = await source.read(pipeline.CHUNK_SIZE)
            file.write(chunk)
            received += len(chunk)
    finally:
        file.close()


async def threaded_receive(source: ByteSource, partial: PartialFile, size: int) -> None:
    """The current design: the PartialFile writes in its own thread, then commits."""
    await receive_into_file(source, partial, size, ignore, ignore, False)
    await partial.commit(overwrite=True)


async def run(design: str, args: argparse.Namespace, directory: Path) -> dict[str, float]:
    slow_size, fast_size = args.slow_mib * MIB, args.fast_mib * MIB
    if design == "blocking":
        slow_path, fast_path = directory / "slow.bin", directory / "fast.bin"
        slow_path.touch()
        disk = SlowDisk(slow_path, args.rate)
        slow_work = blocking_receive(NetworkSource(slow_size), disk.file(slow_path), slow_size)
        fast_work = blocking_receive(NetworkSource(fast_size), fast_path.open("wb"), fast_size)
    else:
        slow, fast = PartialFile(directory, "slow.bin"), PartialFile(directory, "fast.bin")
        disk = SlowDisk(slow.path, args.rate)
        slow_work = threaded_receive(NetworkSource(slow_size), slow, slow_size)
        fast_work = threaded_receive(NetworkSource(fast_size), fast, fast_size)
    ticker = Ticker()
    with mock.patch.object(os, "write", disk.write):
        slow_seconds, fast_seconds = await asyncio.gather(timed(slow_work), timed(fast_work))
    await ticker.stop()
    if disk.stalled < slow_size:
        raise SystemExit(
            f"only {disk.stalled} bytes met the slow disk: does the pipeline still "
            "write with os.write?"
        )
    for leftover in directory.iterdir():
        leftover.unlink()
    lags = sorted(ticker.lags)
    return {
        "event-loop lag, max (ms)": 1000 * lags[-1],
        "event-loop lag, 99th percentile (ms)": 1000 * lags[int(0.99 * (len(lags) - 1))],
        "event-loop lag, median (ms)": 1000 * statistics.median(lags),
        "transfer to the normal disk (MiB/s)": args.fast_mib / fast_seconds,
        "transfer to the slow disk (MiB/s)": args.slow_mib / slow_seconds,
    }


async def main(args: argparse.Namespace) -> None:
    print(
        f"slow disk: {args.slow_mib} MiB at {args.rate:g} MiB/s; beside it {args.fast_mib} MiB "
        f"to a normal file; {os.cpu_count()} cores"
    )
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for design in ("blocking", "threaded"):
            results[design] = await run(design, args, Path(scratch))
    print(f"{'':<40}{'writes on the loop':>20}{'writes in a thread':>20}{'ratio':>8}")
    for metric, before in results["blocking"].items():
        after = results["threaded"][metric]
        ratio = after / before if before else float("nan")
        print(f"{metric:<40}{before:>20.1f}{after:>20.1f}{ratio:>8.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slow-mib", type=int, default=16, help="MiB written to the slow disk")
    parser.add_argument("--rate", type=float, default=8, help="slow disk speed in MiB/s")
    parser.add_argument("--fast-mib", type=int, default=128, help="MiB of the other transfer")
    asyncio.run(main(parser.parse_args()))
