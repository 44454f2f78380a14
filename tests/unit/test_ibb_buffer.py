"""The receiver's bounded buffer: acknowledgements wait for room, floods are refused."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slixmpp_jet.errors import ProtocolError
from slixmpp_jet.transports.ibb.buffer import ReceiveBuffer


def test_blocks_are_acknowledged_while_they_fit() -> None:
    buffer: ReceiveBuffer[str] = ReceiveBuffer(capacity=10, max_unacked=8)
    assert buffer.push(b"abcd", "a") == ["a"]
    assert buffer.push(b"efgh", "b") == ["b"]
    assert buffer.push(b"ijkl", "c") == []
    assert (buffer.ready_bytes, buffer.waiting_blocks) == (8, 1)


def test_reading_makes_room_and_releases_acknowledgements_in_order() -> None:
    buffer: ReceiveBuffer[str] = ReceiveBuffer(capacity=4, max_unacked=8)
    buffer.push(b"1111", "a")
    buffer.push(b"2222", "b")
    buffer.push(b"3333", "c")
    assert buffer.pull(2) == (b"11", [])
    assert buffer.pull(100) == (b"11", ["b"])
    assert buffer.pull(100) == (b"2222", ["c"])
    assert buffer.pull(100) == (b"3333", [])
    assert buffer.ready_bytes == 0


def test_a_block_larger_than_the_capacity_still_gets_in_alone() -> None:
    buffer: ReceiveBuffer[str] = ReceiveBuffer(capacity=2, max_unacked=8)
    assert buffer.push(b"abcdef", "big") == ["big"]
    assert buffer.push(b"g", "next") == []
    assert buffer.pull(6) == (b"abcdef", ["next"])


def test_an_empty_block_is_acknowledged_without_holding_anything() -> None:
    buffer: ReceiveBuffer[str] = ReceiveBuffer(capacity=4, max_unacked=8)
    assert buffer.push(b"", "empty") == ["empty"]
    assert buffer.ready_bytes == 0


def test_a_sender_that_ignores_acknowledgements_is_refused() -> None:
    buffer: ReceiveBuffer[int] = ReceiveBuffer(capacity=1, max_unacked=2)
    buffer.push(b"x", 0)
    buffer.push(b"x", 1)
    buffer.push(b"x", 2)
    with pytest.raises(ProtocolError) as refused:
        buffer.push(b"x", 3)
    assert refused.value.condition == "resource-constraint"


def test_discard_returns_what_was_never_acknowledged() -> None:
    buffer: ReceiveBuffer[str] = ReceiveBuffer(capacity=1, max_unacked=8)
    buffer.push(b"a", "acked")
    buffer.push(b"b", "w1")
    buffer.push(b"c", "w2")
    assert buffer.discard() == ["w1", "w2"]
    assert (buffer.ready_bytes, buffer.waiting_blocks) == (0, 0)


@pytest.mark.parametrize(("capacity", "max_unacked"), [(0, 1), (1, 0)])
def test_limits_must_be_positive(capacity: int, max_unacked: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        ReceiveBuffer(capacity, max_unacked)


@given(
    blocks=st.lists(st.binary(max_size=20), max_size=30),
    capacity=st.integers(1, 50),
    reads=st.lists(st.integers(1, 30), min_size=1, max_size=10),
)
def test_bytes_come_out_in_order_and_memory_stays_bounded(blocks, capacity, reads) -> None:
    buffer: ReceiveBuffer[int] = ReceiveBuffer(capacity, max_unacked=len(blocks) + 1)
    acked: list[int] = []
    for index, block in enumerate(blocks):
        acked += buffer.push(block, index)
        assert buffer.ready_bytes <= max(capacity, max(map(len, blocks), default=0))
    out = bytearray()
    for size in itertools.cycle(reads):
        if not buffer.ready_bytes:
            break
        data, more = buffer.pull(size)
        assert len(data) <= size
        out += data
        acked += more
    assert buffer.waiting_blocks == 0
    assert bytes(out) == b"".join(blocks)
    assert acked == list(range(len(blocks)))
