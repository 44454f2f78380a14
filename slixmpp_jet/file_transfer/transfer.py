"""What the application holds while a file moves: transfers, their results, incoming offers."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Reason, TransferCancelled
from ..jet.security import StreamSecurity
from .stanza import FileInfo


@enum.unique
class Direction(enum.Enum):
    """Whether we send or receive the file."""

    SEND = "send"
    RECEIVE = "receive"


@dataclass(frozen=True)
class Security:
    """How a transfer is encrypted: envelope name, cipher URI, and who sealed the secret."""

    envelope: str
    cipher: str
    sender_identity: str | None = None
    """For received secrets: what authenticated the sealing party (device, key)."""

    @classmethod
    def describing(cls, security: StreamSecurity) -> Security:
        """What the application may see of a transfer's protection: everything but the secret."""
        return cls(security.envelope, security.cipher.uri, security.sender_identity)


@dataclass(frozen=True)
class TransferResult:
    """A completed, verified transfer."""

    peer: str
    direction: Direction
    name: str
    """Sent: the name it was offered under; received: the name it was stored under."""
    size: int
    sha256: str
    """Hex SHA-256 of the plaintext."""
    seconds: float
    """From the start of the session's work (negotiation included) to the end."""
    transport: str
    """Namespace of the transport that carried the bytes."""
    security: Security | None
    path: Path | None
    """Where the file is (received files) or was read from (sent files)."""
    hash_verified: bool
    """Received files: the sender's checksum (or offered hash) matched what arrived; False when
    the sender sent none (an encrypted file is still authenticated by its GCM tag). Sent files:
    the receiver confirmed the transfer with ``<success/>`` after its own checks."""
    stream_seconds: float | None = None
    """From the open stream's first byte (the transport negotiated) to the end."""


class Transfer:
    """One file on its way; ``await transfer`` gives the :class:`TransferResult` or raises.

    ``progress``/``total`` are bytes of plaintext; ``cancel()`` ends the session with
    ``<cancel/>`` and removes any partial file.
    """

    def __init__(
        self,
        sid: str,
        peer: str,
        direction: Direction,
        file: FileInfo,
        security: Security | None,
        on_progress: Callable[[Transfer], None],
        progress_step: int = 256 * 1024,
    ) -> None:
        self.sid = sid
        self.peer = peer
        self.direction = direction
        self.file = file
        self.security = security
        self.progress = 0
        self.transport: str | None = None
        self._on_progress = on_progress
        self._progress_step = progress_step
        self._reported = 0
        self._task: asyncio.Task[TransferResult] | None = None

    @property
    def total(self) -> int | None:
        return self.file.size

    @property
    def encrypted(self) -> bool:
        return self.security is not None

    def start(self, work: Awaitable[TransferResult]) -> None:
        """Run ``work`` as this transfer's task (done by the plugin)."""
        self._task = asyncio.ensure_future(work)
        self._task.add_done_callback(_consume_outcome)

    def advance(self, count: int) -> None:
        """Record ``count`` more bytes done; notify every ``progress_step`` bytes and at the end."""
        self.progress += count
        finished = self.total is not None and self.progress >= self.total
        if finished or self.progress - self._reported >= self._progress_step:
            self._reported = self.progress
            self._on_progress(self)

    def cancel(self) -> None:
        """Stop the transfer; awaiting it then raises :class:`TransferCancelled`."""
        if self._task is not None:
            self._task.cancel()

    def done(self) -> bool:
        return self._task is not None and self._task.done()

    async def wait(self) -> TransferResult:
        """The result; raises a :class:`~slixmpp_jet.errors.TransferError` on failure."""
        if self._task is None:
            raise RuntimeError("transfer not started")
        try:
            return await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if self._task.cancelled():
                raise TransferCancelled("the transfer was cancelled") from None
            raise

    def __await__(self) -> Generator[Any, None, TransferResult]:
        return self.wait().__await__()

    def __repr__(self) -> str:
        name = self.file.name or "?"
        return f"<Transfer {self.direction.value} {name!r} with {self.peer} ({self.sid})>"


@dataclass(frozen=True)
class TransferFailure:
    """Event ``jingle_transfer_failed``: a transfer that did not complete, and why."""

    transfer: Transfer
    error: BaseException


@dataclass(frozen=True)
class RefusedOffer:
    """Event ``jingle_offer_refused``: an incoming offer or request refused before the
    application saw it (unreadable, untrusted or forged security, no common transport...)."""

    peer: str
    error: BaseException


def _consume_outcome(task: asyncio.Task[TransferResult]) -> None:
    """Mark a failure as seen: the application learns of it by awaiting or by events."""
    if not task.cancelled():
        task.exception()


class FileOffer:
    """An incoming offer (event ``jingle_file_offer``): inspect, then accept or decline.

    ``security`` says whether, how and by whom it is encrypted, before any byte moves.
    """

    def __init__(
        self,
        transfer: Transfer,
        accept: Callable[[Path, str | None, bool], Awaitable[Transfer]],
        decline: Callable[[Reason, str | None], Awaitable[None]],
    ) -> None:
        self.transfer = transfer
        self._accept = accept
        self._decline = decline

    @property
    def peer(self) -> str:
        return self.transfer.peer

    @property
    def file(self) -> FileInfo:
        return self.transfer.file

    @property
    def security(self) -> Security | None:
        return self.transfer.security

    @property
    def encrypted(self) -> bool:
        return self.transfer.encrypted

    async def accept(
        self, directory: Path | str, name: str | None = None, overwrite: bool = False
    ) -> Transfer:
        """Accept into ``directory`` (under the offered name, made safe, unless ``name``).

        An existing file is kept and the new one gets a numbered name unless ``overwrite``.
        """
        return await self._accept(Path(directory), name, overwrite)

    async def decline(self, reason: Reason = Reason.DECLINE, text: str | None = None) -> None:
        """Refuse the offer; the session ends with ``reason``."""
        await self._decline(reason, text)

    def __repr__(self) -> str:
        return f"<FileOffer {self.file.name!r} ({self.file.size} bytes) from {self.peer}>"
