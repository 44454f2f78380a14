"""SocketSink and SocketSource on the two ends of a real loopback TCP connection."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from socket_pair import connected_pair

from slixmpp_jet.errors import TransportError
from slixmpp_jet.transports.base import ByteSink, ByteSource
from slixmpp_jet.transports.s5b.stream import LOW_WATER, SocketSource

pytestmark = pytest.mark.asyncio


async def read_to_end(stream: SocketSource) -> bytes:
    received = bytearray()
    while chunk := await stream.read(7000):
        assert len(chunk) <= 7000
        received += chunk
    return bytes(received)


async def test_bytes_arrive_in_order_and_finish_ends_the_stream() -> None:
    sender, receiver = await connected_pair()
    payload = os.urandom(3 * 1024 * 1024 + 5)

    async def send() -> None:
        for start in range(0, len(payload), 65536):
            await sender.write(payload[start : start + 65536])
        await sender.finish()

    _, received = await asyncio.gather(send(), read_to_end(receiver))
    assert received == payload
    assert await receiver.read() == b""
    receiver.abort()


async def test_each_end_goes_one_way_only() -> None:
    sender, receiver = await connected_pair()
    assert not isinstance(sender, ByteSource)
    assert not isinstance(receiver, ByteSink)
    sender.abort()
    receiver.abort()


async def test_write_after_finish_is_refused() -> None:
    sender, receiver = await connected_pair()
    await sender.finish()
    await sender.finish()  # twice is fine
    with pytest.raises(TransportError, match="closed"):
        await sender.write(b"late")
    assert await receiver.read() == b""
    receiver.abort()


async def test_abort_ends_the_peer_stream_at_once() -> None:
    sender, receiver = await connected_pair()
    sender.abort()
    sender.abort()  # twice is fine
    assert await receiver.read() == b""
    with pytest.raises(TransportError, match="closed"):
        await sender.write(b"late")
    receiver.abort()


async def test_reading_after_our_own_abort_raises_rather_than_looking_like_the_end() -> None:
    sender, receiver = await connected_pair()
    receiver.abort()
    receiver.abort()  # twice is fine
    with pytest.raises(TransportError, match="aborted"):
        await receiver.read()
    sender.abort()


async def test_writing_to_a_vanished_receiver_raises() -> None:
    sender, receiver = await connected_pair()
    receiver.abort()
    with pytest.raises(TransportError, match="broke"):
        for _ in range(10_000):  # the reset arrives after a write or two
            await sender.write(b"\0" * 65536)
    sender.abort()


async def test_abort_after_a_finished_stream_is_harmless() -> None:
    sender, receiver = await connected_pair()
    await sender.write(b"all of it")
    await sender.finish()
    assert await read_to_end(receiver) == b"all of it"
    await asyncio.sleep(0)  # let the transport finish closing
    sender.abort()
    receiver.abort()
    receiver.abort()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_RCVLOWAT as Linux has it")
async def test_a_trickle_is_read_in_low_water_pieces_and_the_tail_without_waiting() -> None:
    sender, receiver = await connected_pair()
    piece, pieces = 4096, LOW_WATER // 4096 + 4  # what proxy65 relays per turn of its loop

    async def trickle() -> None:
        for _ in range(pieces):
            await sender.write(bytes(piece))
            await asyncio.sleep(0.002)

    sending = asyncio.ensure_future(trickle())
    first = await receiver.read(1024 * 1024)
    assert len(first) >= LOW_WATER
    await sending
    rest = await receiver.read(pieces * piece - len(first))  # no more than the rest: no wait
    assert len(first) + len(rest) <= pieces * piece
    while len(first) + len(rest) < pieces * piece:
        rest += await receiver.read(pieces * piece - len(first) - len(rest))
    await sender.finish()
    assert await receiver.read(1024 * 1024) == b""


# -- handed to a worker thread --------------------------------------------------------------


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_a_thread_reads_what_asyncio_buffered_first_then_the_rest() -> None:
    sender, receiver = await connected_pair()
    payload = os.urandom(2 * 1024 * 1024 + 3)
    await sender.write(payload[:100_000])
    first = await receiver.read(10)  # asyncio has buffered more than it gave out
    thread_reader = await receiver.blocking_reader()
    assert thread_reader is not None

    def read_rest() -> bytes:
        received = bytearray()
        while chunk := thread_reader.read(300_000):
            assert len(chunk) <= 300_000
            received += chunk
        thread_reader.close()
        return bytes(received)

    reading = asyncio.get_running_loop().run_in_executor(None, read_rest)
    await sender.write(payload[100_000:])
    await sender.finish()
    assert first + await reading == payload
    with pytest.raises(TransportError, match="thread"):
        await receiver.read()  # the stream belongs to the thread now
    receiver.abort()


async def test_a_thread_writes_and_finish_still_ends_the_stream() -> None:
    sender, receiver = await connected_pair()
    payload = os.urandom(3 * 1024 * 1024)
    thread_writer = await sender.blocking_writer()
    assert thread_writer is not None

    def write_all() -> None:
        for start in range(0, len(payload), 256 * 1024):
            thread_writer.write(payload[start : start + 256 * 1024])
        thread_writer.close()

    async def read_exactly(count: int) -> bytes:
        received = bytearray()
        while len(received) < count:
            chunk = await receiver.read(count - len(received))
            assert chunk, "the stream ended early"
            received += chunk
        return bytes(received)

    writing = asyncio.get_running_loop().run_in_executor(None, write_all)
    received, _ = await asyncio.gather(read_exactly(len(payload)), writing)
    assert received == payload
    await sender.write(b"tail")  # the loop carries on where the thread stopped
    await sender.finish()
    assert await read_to_end(receiver) == b"tail"
    receiver.abort()


@pytest.mark.parametrize("side", ["reader", "writer"])
async def test_abort_from_the_loop_ends_a_blocked_thread_and_frees_its_socket(side) -> None:
    before = fds()
    sender, receiver = await connected_pair()
    if side == "reader":
        end, thread_end = receiver, await receiver.blocking_reader()

        def blocked() -> None:
            thread_end.read(1000)  # the sender sends nothing: waits

    else:
        end, thread_end = sender, await sender.blocking_writer()

        def blocked() -> None:
            while True:  # the receiver reads nothing: the socket buffers fill, then it waits
                thread_end.write(bytes(1024 * 1024))

    assert thread_end is not None

    def run() -> None:
        try:
            blocked()
        finally:
            thread_end.close()

    thread = asyncio.get_running_loop().run_in_executor(None, run)
    await asyncio.sleep(0.2)
    assert not thread.done()
    end.abort()
    with pytest.raises(TransportError):
        await asyncio.wait_for(thread, 10)
    sender.abort()
    receiver.abort()
    await asyncio.sleep(0)  # asyncio closes aborted sockets on its next turn
    assert fds() == before


EXITING = """
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from socket_pair import connected_pair
from slixmpp_jet.file_transfer.pipeline import PartialFile, receive_into_file

STALLED_PEER = []

async def main():
    sink, source = await connected_pair()  # nothing is ever sent
    STALLED_PEER.append(sink)  # nor closed: the peer stays, silent
    partial = PartialFile(__import__("pathlib").Path(sys.argv[2]), "stalled.bin")
    asyncio.ensure_future(receive_into_file(source, partial, 1000, print, print, False))
    await asyncio.sleep(0.3)  # the disk thread now waits in its read
    print("leaving", flush=True)

loop = asyncio.new_event_loop()
loop.run_until_complete(main())
loop.close()  # the receive is never cancelled, the stream never aborted
"""


async def test_a_thread_waiting_on_a_stalled_peer_does_not_keep_the_program_alive(tmp_path) -> None:
    """The event loop is closed without aborting the stream: the thread still lets go (else
    Python would wait for it at exit, as long as the peer stays silent)."""
    unit_tests = os.path.dirname(__file__)
    ended = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", EXITING, unit_tests, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,  # only stops a hang
    )
    assert ended.returncode == 0, ended.stderr
    assert ended.stdout.strip() == "leaving"
