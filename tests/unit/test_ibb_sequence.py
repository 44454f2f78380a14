"""The 16-bit IBB seq counter: starts at 0, wraps from 65535 to 0, refuses repeats and gaps."""

from __future__ import annotations

import pytest

from slixmpp_jet.errors import ProtocolError
from slixmpp_jet.transports.ibb.sequence import SEQ_MODULUS, Sequence


def test_sender_counts_from_zero() -> None:
    sequence = Sequence()
    assert [sequence.take() for _ in range(3)] == [0, 1, 2]


def test_sender_wraps_after_65535() -> None:
    sequence = Sequence(65534)
    assert [sequence.take() for _ in range(4)] == [65534, 65535, 0, 1]


def test_a_full_run_of_65536_blocks_wraps_back_to_zero() -> None:
    sender, receiver = Sequence(), Sequence()
    for _ in range(SEQ_MODULUS + 2):
        receiver.accept(sender.take())
    assert sender.expected == receiver.expected == 2


def test_receiver_accepts_the_wrap() -> None:
    receiver = Sequence(65535)
    receiver.accept(65535)
    receiver.accept(0)
    assert receiver.expected == 1


@pytest.mark.parametrize(
    ("start", "seq"), [(0, 1), (5, 4), (5, 6), (65535, 65534), (65535, 1), (0, 65535)]
)
def test_receiver_refuses_repeats_and_gaps(start: int, seq: int) -> None:
    receiver = Sequence(start)
    with pytest.raises(ProtocolError, match="out of order") as refused:
        receiver.accept(seq)
    assert refused.value.condition == "unexpected-request"
    assert receiver.expected == start


def test_a_repeat_after_acceptance_is_refused() -> None:
    receiver = Sequence()
    receiver.accept(0)
    with pytest.raises(ProtocolError):
        receiver.accept(0)


@pytest.mark.parametrize("start", [-1, SEQ_MODULUS])
def test_start_must_be_a_16_bit_value(start: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        Sequence(start)
