"""The receiver's bounded block buffer, which turns a slow reader into a slow sender.

A ``<data/>`` IQ is acknowledged only once its block fits in the buffer, and IBB senders wait
for acknowledgements, so memory stays bounded whatever the file size. Sans-I/O: the caller
passes an opaque *ticket* with each block (the IQ to answer) and gets back the tickets it
may acknowledge now.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

from ...errors import ProtocolError

Ticket = TypeVar("Ticket")


class ReceiveBuffer(Generic[Ticket]):
    """Acknowledged blocks for the reader, and blocks still waiting for room.

    At most ``capacity`` acknowledged bytes are held (always at least one block, so any
    block-size makes progress), plus at most ``max_unacked`` blocks the peer sent ahead.
    """

    def __init__(self, capacity: int, max_unacked: int) -> None:
        if capacity < 1 or max_unacked < 1:
            raise ValueError("capacity and max_unacked must be positive")
        self._capacity = capacity
        self._max_unacked = max_unacked
        self._ready: deque[bytes] = deque()
        self._ready_bytes = 0
        self._waiting: deque[tuple[bytes, Ticket]] = deque()

    @property
    def ready_bytes(self) -> int:
        """Acknowledged bytes the reader has not taken yet."""
        return self._ready_bytes

    @property
    def waiting_blocks(self) -> int:
        """Blocks received but not yet acknowledged, for lack of room."""
        return len(self._waiting)

    def push(self, block: bytes, ticket: Ticket) -> list[Ticket]:
        """Add the next block; return the tickets to acknowledge now.

        Raises :class:`ProtocolError` (``resource-constraint``) when the peer sends more
        blocks ahead of our acknowledgements than we are willing to hold.
        """
        if len(self._waiting) >= self._max_unacked:
            raise ProtocolError(
                f"peer sent more than {self._max_unacked} IBB blocks without waiting for acks",
                condition="resource-constraint",
            )
        self._waiting.append((block, ticket))
        return self._admit()

    def pull(self, max_bytes: int) -> tuple[bytes, list[Ticket]]:
        """Take up to ``max_bytes`` acknowledged bytes; return them and the tickets now acked."""
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        parts: list[bytes] = []
        wanted = max_bytes
        while self._ready and wanted:
            head = self._ready[0]
            if len(head) <= wanted:
                parts.append(self._ready.popleft())
            else:
                parts.append(head[:wanted])
                self._ready[0] = head[wanted:]
            wanted -= len(parts[-1])
        taken = b"".join(parts)
        self._ready_bytes -= len(taken)
        return taken, self._admit()

    def discard(self) -> list[Ticket]:
        """Drop everything; return the tickets of blocks that were never acknowledged."""
        tickets = [ticket for _block, ticket in self._waiting]
        self._waiting.clear()
        self._ready.clear()
        self._ready_bytes = 0
        return tickets

    def _admit(self) -> list[Ticket]:
        admitted: list[Ticket] = []
        while self._waiting:
            block, ticket = self._waiting[0]
            if self._ready_bytes and self._ready_bytes + len(block) > self._capacity:
                break
            self._waiting.popleft()
            if block:
                self._ready.append(block)
                self._ready_bytes += len(block)
            admitted.append(ticket)
        return admitted
