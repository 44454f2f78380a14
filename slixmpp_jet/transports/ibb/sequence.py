"""The 16-bit ``seq`` counter of XEP-0047 §2.2, for one direction of one IBB session.

It starts at 0, grows by one per ``<data/>`` and wraps from 65535 to 0. The sender takes
numbers from it; the receiver checks that each block carries exactly the next one.
"""

from __future__ import annotations

from ...errors import ProtocolError

SEQ_MODULUS = 65536


class Sequence:
    """Where one direction of an IBB session stands in its ``seq`` run."""

    def __init__(self, start: int = 0) -> None:
        if not 0 <= start < SEQ_MODULUS:
            raise ValueError(f"seq {start} is outside 0..{SEQ_MODULUS - 1}")
        self.expected = start

    def take(self) -> int:
        """The sender's next ``seq``."""
        seq = self.expected
        self.expected = (seq + 1) % SEQ_MODULUS
        return seq

    def accept(self, seq: int) -> None:
        """Check the receiver's next ``seq``; a repeat or a gap is ``unexpected-request``."""
        if seq != self.expected:
            raise ProtocolError(
                f"IBB seq {seq} out of order (expected {self.expected})",
                condition="unexpected-request",
            )
        self.expected = (seq + 1) % SEQ_MODULUS
