"""One content of one session, end to end: accept, stream, verify, finish.

A :class:`Job` runs as the task behind a :class:`~.transfer.Transfer`. Whatever goes wrong, it
ends the Jingle session with the fitting reason, removes partial files, and raises a
:class:`~slixmpp_jet.errors.JetError` the application can read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from xml.etree import ElementTree as ET

from slixmpp.exceptions import IqError, IqTimeout

from ..errors import JetError, Reason, TransferCancelled, TransferDeclined, TransferError
from ..jet.ciphers import Cipher
from ..jet.envelope import TransportSecret
from ..jet.stream import DecryptingStream, EncryptingStream
from ..jingle import Action, Role, Session
from ..jingle.stanza import Content, JingleReason
from ..transports.base import ByteStream
from .channel import ContentChannel
from .hashes import Hasher, new_hasher
from .pipeline import PartialFile, receive_into_file, send_from_file
from .serving import HASH_ALGO
from .stanza import FileInfo, build_checksum, build_received
from .transfer import Direction, Transfer, TransferResult

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Timeouts:
    """How long a job waits for the peer at each step (seconds)."""

    checksum: float = 10.0
    """For the sender's checksum after the last byte, when the offer announced one."""
    end: float = 60.0
    """For the receiver's session-terminate after the last byte was sent."""


@dataclass(frozen=True)
class StreamKey:
    """The cipher and secret protecting a content's stream."""

    cipher: Cipher
    secret: TransportSecret = field(repr=False)


def session_ended(reason: JingleReason, by_peer: bool = True) -> TransferError:
    """The exception for a session that ended before the transfer completed."""
    text = f": {reason.text}" if reason.text else ""
    who = "the peer ended the session" if by_peer else "the session ended"
    message = f"{who} ({reason.condition.value}{text})"
    if reason.condition is Reason.DECLINE:
        return TransferDeclined(message)
    if reason.condition is Reason.CANCEL:
        return TransferCancelled(message)
    return TransferError(message, reason=reason.condition)


class Job:
    """Drives one content's transfer inside its Jingle session."""

    def __init__(
        self,
        session: Session,
        content: Content,
        channel: ContentChannel,
        transfer: Transfer,
        key: StreamKey | None,
        timeouts: Timeouts,
        hex_checksum: bool = False,
    ) -> None:
        self.session = session
        self.content = content
        self.channel = channel
        self.transfer = transfer
        self.key = key
        self.timeouts = timeouts
        self.hex_checksum = hex_checksum
        """Send the checksum in Libervia's hex-in-Base64 form."""
        loop = asyncio.get_running_loop()
        self.accepted: asyncio.Future[Content] = loop.create_future()
        """The peer's content from session-accept (only awaited by the initiator)."""
        self.checksum: asyncio.Future[dict[str, bytes]] = loop.create_future()
        self._started = time.monotonic()

    async def _guard(self, work: Awaitable[T]) -> T:
        """Await ``work`` unless the session ends first; then raise why it ended."""
        task = asyncio.ensure_future(work)
        ended = self.session.ended
        racing: set[asyncio.Future[object]] = {task, ended}  # type: ignore[arg-type]
        await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise session_ended(ended.result(), self.session.ended_by_peer)

    async def _stream(self) -> ByteStream:
        if not self.accepted.done() and self.session.role is Role.INITIATOR:
            await self._guard(self.accepted)
        stream = await self._guard(self.channel.establish())
        self.transfer.transport = self.channel.namespace
        return stream

    async def _fail(self, error: BaseException) -> None:
        if isinstance(error, asyncio.CancelledError):
            await self.session.terminate(Reason.CANCEL, "cancelled")
        elif isinstance(error, JetError):
            await self.session.terminate(error.reason, str(error))
        else:
            log.exception("transfer %s failed", self.session.sid, exc_info=error)
            await self.session.terminate(Reason.GENERAL_ERROR, "internal error")

    async def send(self, source: Path) -> TransferResult:
        """Send ``source``: stream it, send the checksum, await the receiver's verdict."""
        stream: ByteStream | None = None
        try:
            stream = await self._stream()
            if self.key is not None:
                stream = EncryptingStream(stream, self.key.cipher, self.key.secret)
            hasher = new_hasher(HASH_ALGO)
            with source.open("rb") as reader:
                await self._guard(
                    send_from_file(stream, reader, hasher.update, self.transfer.advance)
                )
            await self._send_info(
                build_checksum(
                    self.content.creator.value,
                    self.content.name,
                    {HASH_ALGO: hasher.digest()},
                    self.hex_checksum,
                )
            )
            reason = await asyncio.wait_for(asyncio.shield(self.session.ended), self.timeouts.end)
            if reason.condition is not Reason.SUCCESS:
                raise session_ended(reason, self.session.ended_by_peer)
            return self._result(hasher, source, hash_verified=True)
        except TimeoutError:
            error = TransferError(
                "the receiver did not confirm the transfer", reason=Reason.TIMEOUT
            )
            await self._fail(error)
            raise error from None
        except BaseException as error:
            await self._fail(error)
            raise
        finally:
            if stream is not None:
                stream.abort()
            self.channel.close()

    async def receive(self, directory: Path, name: str, overwrite: bool) -> TransferResult:
        """Receive into a temp file; commit it only once size, tag and hash check out."""
        stream: ByteStream | None = None
        partial: PartialFile | None = None
        try:
            stream = await self._stream()
            size = self.transfer.file.size
            if self.key is not None:
                if size is None:
                    raise TransferError(
                        "an encrypted file must announce its size", reason=Reason.SECURITY_ERROR
                    )
                stream = DecryptingStream(stream, self.key.cipher, self.key.secret, size)
            hashers = self._hashers()
            partial = PartialFile(directory, name)
            await self._guard(
                receive_into_file(
                    stream,
                    partial.file,
                    size,
                    _Fanout(hashers).update,
                    self.transfer.advance,
                    self.key is not None,
                )
            )
            verified = await self._verify(hashers)
            path = partial.commit(overwrite)
            partial = None
            await self._send_info(build_received(self.content.creator.value, self.content.name))
            await self.session.terminate(Reason.SUCCESS)
            return self._result(hashers[HASH_ALGO], path, verified)
        except BaseException as error:
            await self._fail(error)
            raise
        finally:
            if partial is not None:
                partial.discard()
            if stream is not None:
                stream.abort()
            self.channel.close()

    def _hashers(self) -> dict[str, Hasher]:
        file = self.transfer.file
        algos = {HASH_ALGO, *file.hashes, *file.hash_used}
        hashers: dict[str, Hasher] = {}
        for algo in algos:
            with contextlib.suppress(ValueError):
                hashers[algo] = new_hasher(algo)
        return hashers

    async def _verify(self, hashers: dict[str, Hasher]) -> bool:
        """Compare with the offered hash or the sender's checksum; False if there is none.

        A plaintext file whose hash mismatches is refused (``media-error``). For an encrypted
        one the GCM tag already proved integrity, and some senders hash the ciphertext
        (Conversations), so a mismatch there is only logged.
        """
        expected = dict(self.transfer.file.hashes)
        if not expected and self.transfer.file.hash_used:
            with contextlib.suppress(TimeoutError):
                expected = await self._guard(
                    asyncio.wait_for(asyncio.shield(self.checksum), self.timeouts.checksum)
                )
        comparable = [algo for algo in expected if algo in hashers]
        if not comparable:
            return False
        if all(hmac.compare_digest(hashers[a].digest(), expected[a]) for a in comparable):
            return True
        if self.key is None:
            raise TransferError(
                "the file's hash does not match the sender's checksum", reason=Reason.MEDIA_ERROR
            )
        log.warning(
            "checksum of %s mismatches; the GCM tag verified the content", self.content.name
        )
        return False

    async def _send_info(self, payload: ET.Element) -> None:
        """Best-effort session-info; skipped once the session has ended."""
        if self.session.state.ended:
            return
        with contextlib.suppress(IqError, IqTimeout):
            await self.session.send(Action.SESSION_INFO, extra=[payload])

    def _result(self, hasher: Hasher, path: Path, hash_verified: bool) -> TransferResult:
        transfer = self.transfer
        return TransferResult(
            peer=transfer.peer,
            direction=transfer.direction,
            name=path.name,
            size=transfer.progress,
            sha256=hasher.hexdigest(),
            seconds=time.monotonic() - self._started,
            transport=self.channel.namespace,
            security=transfer.security,
            path=path,
            hash_verified=hash_verified,
        )

    def on_session_accept(self, content: Content, file: FileInfo | None) -> None:
        """The responder accepted (for a request its description says what comes)."""
        self.channel.accept_remote(content.transport)
        if file is not None and self.transfer.direction is Direction.RECEIVE:
            self.transfer.file = file
        if not self.accepted.done():
            self.accepted.set_result(content)


class _Fanout:
    """Feeds every chunk to several hashers."""

    def __init__(self, hashers: dict[str, Hasher]) -> None:
        self._hashers = list(hashers.values())

    def update(self, data: bytes, /) -> None:
        for hasher in self._hashers:
            hasher.update(data)
