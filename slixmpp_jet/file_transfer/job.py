"""The async driver of one content's transfer: it carries out the protocol's commands.

A :class:`Job` runs as the task behind a :class:`~.transfer.Transfer`. Every decision (what to
send, when to fall back, time out, commit or give up) is made by the sans-I/O
:class:`~.protocol.FileTransferProtocol`; the job turns the peer's actions, the transport, the
stream, the disk and the clock into its events, and its commands into IQs, sockets, files and
timers. It owns every task it starts and cancels or awaits each before it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from slixmpp.exceptions import IqError, IqTimeout

from ..errors import JetError, LocalFileError, Reason, SecurityError, TransferError, TransportError
from ..jet.security import StreamSecurity
from ..jet.stream import DecryptingSource, EncryptingSink
from ..jingle import Action, Role, Session
from ..jingle.stanza import Content, JingleReason
from ..transports.base import ByteSink, ByteSource, expect_sink, expect_source
from . import events as ev
from .channel import ContentChannel
from .hashes import Hasher, new_hasher
from .pipeline import PartialFile, receive_into_file, send_from_file
from .protocol import FileTransferProtocol, Timeouts
from .serving import HASH_ALGO
from .stanza import FileInfo, build_checksum, build_received
from .transfer import Direction, Transfer, TransferResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Destination:
    """Where a received file goes: ``name`` (already made safe) inside ``directory``."""

    directory: Path
    name: str
    overwrite: bool = False
    limit: int | None = None
    """The most bytes kept of a file whose size was not announced (``None``: no limit)."""


class Job:
    """Drives one content's transfer inside its Jingle session.

    ``target`` is the file to send, or the :class:`Destination` of the file to receive.
    ``answer`` is our session-accept content when we are the responder.
    """

    def __init__(
        self,
        session: Session,
        content: Content,
        channel: ContentChannel,
        transfer: Transfer,
        security: StreamSecurity | None,
        timeouts: Timeouts,
        target: Path | Destination,
        *,
        answer: Content | None = None,
        hex_checksum: bool = False,
    ) -> None:
        self.session = session
        self.content = content
        self.channel = channel
        self.transfer = transfer
        self.security = security
        self.target = target
        self.answer = answer
        self.hex_checksum = hex_checksum
        """Send the checksum in Libervia's hex-in-Base64 form."""
        self.protocol = FileTransferProtocol(
            initiator=session.role is Role.INITIATOR,
            sending=transfer.direction is Direction.SEND,
            transports=channel.namespaces,
            current=channel.namespace,
            timeouts=timeouts,
            encrypted=security is not None,
            expected_hashes=transfer.file.hashes,
            checksum_announced=bool(transfer.file.hash_used),
        )
        self._loop = asyncio.get_running_loop()
        self._todo: deque[ev.Command] = deque()
        self._wake = asyncio.Event()
        self._outcome: ev.Finish | None = None
        self._timers: dict[ev.Timer, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._establishing: asyncio.Task[None] | None = None
        self._streaming: asyncio.Task[None] | None = None
        self._attempt = 0
        self._held: list[ev.Event] | None = []
        """Events posted before :meth:`start`, fed to the protocol right after its Start (a
        peer's session-accept may be handled before the ack of our session-initiate): the first
        of each kind, which is the one that counts, so that a peer cannot make it grow."""
        self._end: ByteSource | ByteSink | None = None
        self._partial: PartialFile | None = None
        self._path: Path | None = target if isinstance(target, Path) else None
        self._hashers: dict[str, Hasher] = {}
        self._started = time.monotonic()
        self._streaming_since: float | None = None

    # -- the loop -------------------------------------------------------------------------

    def post(self, event: ev.Event) -> None:
        """Feed ``event`` to the protocol; its commands run in order on the job's task."""
        if self._held is not None:
            if not any(type(held) is type(event) for held in self._held):
                self._held.append(event)
            return
        commands = self.protocol.handle(event)
        if any(isinstance(command, ev.OpenTransport) for command in commands):
            self._attempt += 1  # decided now: from here on, the attempt under way is stale
        if commands:
            self._todo.extend(commands)
            self._wake.set()

    def start(self) -> None:
        """The session is under way (our initiate acknowledged, or the peer's accepted by the
        application): the protocol starts, then takes what was posted before. Then :meth:`run`
        the job."""
        self.session.ended.add_done_callback(self._on_session_end)
        held, self._held = self._held or [], None
        for event in (ev.Start(self._loop.time()), *held):
            self.post(event)

    async def run(self) -> TransferResult:
        """Run until the protocol reports the outcome; the result, or the error it names."""
        cancelled = False
        try:
            while self._outcome is None:
                try:
                    await self._work()
                except asyncio.CancelledError:
                    if cancelled:
                        raise
                    cancelled = True
                    self.post(ev.LocalCancel())
        finally:
            await self._release()
        assert self._outcome is not None
        if self._outcome.error is None:
            return self._result(self._outcome.hash_verified)
        if cancelled:
            raise asyncio.CancelledError
        raise self._outcome.error

    async def _work(self) -> None:
        while self._todo:
            await self._execute(self._todo.popleft())
        if self._outcome is None:
            await self._wake.wait()
            self._wake.clear()

    async def _execute(self, command: ev.Command) -> None:
        match command:
            case ev.SendAccept():
                await self._send_accept()
            case ev.OpenTransport():
                self._open_transport()
            case ev.ReplaceTransport(namespace):
                await self._propose(namespace)
            case ev.AnswerReplace(accept):
                await self._answer_proposal(accept)
            case ev.StartStreaming():
                self.transfer.transport = self.channel.namespace
                self._streaming = self._spawn(self._stream())
            case ev.SendChecksum():
                digest = {HASH_ALGO: self._hashers[HASH_ALGO].digest()}
                creator, name = self.content.creator.value, self.content.name
                await self._send_info(build_checksum(creator, name, digest, self.hex_checksum))
            case ev.SendReceived():
                await self._send_info(build_received(self.content.creator.value, self.content.name))
            case ev.StartTimer(timer, seconds):
                self._stop_timer(timer)
                self._timers[timer] = self._loop.call_later(seconds, self._fire, timer)
            case ev.StopTimer(timer):
                self._stop_timer(timer)
            case ev.CommitFile():
                self._spawn(self._commit())
            case ev.DiscardFile():
                if self._partial is not None:
                    self._partial.discard()
            case ev.CloseTransport():
                await self._close_transport()
            case ev.Terminate(reason, text):
                await self.session.terminate(reason, text)
            case ev.Finish():
                self._outcome = command

    # -- intents: the peer's Jingle actions ----------------------------------------------

    def accepted(self, content: Content, file: FileInfo | None) -> None:
        """The responder's session-accept (for a request its description says what comes)."""
        try:
            self.channel.accept_remote(content.transport)
        except JetError as error:
            self.post(ev.Failed(TransportError(f"unusable session-accept: {error}")))
            raise
        if file is not None and self.transfer.direction is Direction.RECEIVE:
            self.transfer.file = file
        hashes = file.hashes if file is not None else {}
        announced = bool(file.hash_used) if file is not None else False
        self.post(ev.SessionAccepted(self._loop.time(), hashes, announced))

    async def transport_info(self, remote: ET.Element | None) -> None:
        """A transport-info for this content (SOCKS5 candidate reports, proxy activation)."""
        await self.channel.handle_info(remote)

    async def replace_proposed(self, remote: ET.Element | None) -> None:
        """The peer's transport-replace."""
        self.post(ev.ReplaceOffered(await self.channel.receive_proposal(remote)))

    def replace_answered(self, action: Action, remote: ET.Element | None) -> None:
        """The peer's transport-accept or transport-reject of our transport-replace."""
        try:
            accepted = self.channel.take_answer(action, remote)
        except JetError:
            self.post(ev.ReplaceAnswered(False))
            raise
        self.post(ev.ReplaceAnswered(accepted))

    def checksum(self, hashes: Mapping[str, bytes]) -> None:
        """The sender's checksum session-info."""
        self.post(ev.ChecksumReceived(hashes))

    def fail(self, error: JetError) -> None:
        """End the transfer with ``error`` (its reason goes to the peer)."""
        self.post(ev.Failed(error))

    # -- carrying out commands ------------------------------------------------------------

    async def _send_accept(self) -> None:
        assert self.answer is not None, "only a responder sends session-accept"
        try:
            await self.session.send(Action.SESSION_ACCEPT, [self.answer])
        except (IqError, IqTimeout) as error:
            message = f"{self.session.peer} did not take our accept: {describe(error)}"
            self.post(ev.Failed(TransferError(message, reason=Reason.CONNECTIVITY_ERROR)))
            return
        await self.channel.announced()

    def _open_transport(self) -> None:
        if self._establishing is not None:
            self._establishing.cancel()
        self._establishing = self._spawn(self._establish(self._attempt))

    async def _establish(self, attempt: int) -> None:
        try:
            end = await self.channel.establish()
        except TransportError as error:
            namespace = self.channel.namespace
            log.info("%s: the %s transport failed: %s", self.session.sid, namespace, error)
            event: ev.Event = ev.TransportFailed(error)
        except Exception as error:
            event = ev.Failed(as_jet_error(error, "setting up the transport"))
        else:
            if attempt != self._attempt:
                end.abort()
                return
            self._end = end
            event = ev.TransportReady()
        if attempt == self._attempt:
            self.post(event)

    async def _propose(self, namespace: str) -> None:
        try:
            await self.channel.propose(namespace)
        except (IqError, IqTimeout):
            self.post(ev.ReplaceAnswered(False))
        except Exception as error:
            self.post(ev.Failed(as_jet_error(error, "offering the fallback transport")))

    async def _answer_proposal(self, accept: bool) -> None:
        try:
            await self.channel.answer_proposal(accept)
        except (IqError, IqTimeout) as error:
            if accept:
                message = f"the peer did not take our transport-accept: {describe(error)}"
                self.post(ev.Failed(TransportError(message)))

    async def _stream(self) -> None:
        self._streaming_since = time.monotonic()
        try:
            if isinstance(self.target, Destination):
                await self._receive(self.target)
            else:
                await self._send(self.target)
        except Exception as error:
            self.post(ev.Failed(as_jet_error(error, "moving the file")))
        else:
            digests = {algo: hasher.digest() for algo, hasher in self._hashers.items()}
            self.post(ev.StreamFinished(digests))

    async def _send(self, source: Path) -> None:
        assert self._end is not None
        sink = expect_sink(self._end)
        if self.security is not None:
            sink = self._end = EncryptingSink(sink, self.security)
        hasher = self._hashers[HASH_ALGO] = new_hasher(HASH_ALGO)
        try:
            reader = source.open("rb")
        except OSError as error:
            raise LocalFileError(f"could not open {source}: {error.strerror}") from error
        with reader:
            await send_from_file(sink, reader, hasher.update, self._advance)

    async def _receive(self, destination: Destination) -> None:
        assert self._end is not None
        source = expect_source(self._end)
        size = self.transfer.file.size
        if self.security is not None:
            if size is None:
                raise SecurityError("an encrypted file must announce its size")
            source = DecryptingSource(source, self.security, size)
        self._hashers = self._new_hashers()
        self._partial = PartialFile(destination.directory, destination.name)
        fanout = _Fanout(self._hashers)
        encrypted = self.security is not None
        await receive_into_file(
            source, self._partial, size, fanout.update, self._advance, encrypted, destination.limit
        )

    async def _commit(self) -> None:
        assert self._partial is not None and isinstance(self.target, Destination)
        try:
            self._path = await self._partial.commit(self.target.overwrite)
        except Exception as error:
            self.post(ev.Failed(as_jet_error(error, "keeping the file")))
        else:
            self.post(ev.FileCommitted())

    async def _close_transport(self) -> None:
        for task in (self._establishing, self._streaming):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._end is not None:
            self._end.abort()
        self.channel.close()

    async def _send_info(self, payload: ET.Element) -> None:
        """Best-effort session-info; skipped once the session has ended."""
        if self.session.state.ended:
            return
        with contextlib.suppress(IqError, IqTimeout):
            await self.session.send(Action.SESSION_INFO, extra=[payload])

    # -- helpers --------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _advance(self, count: int) -> None:
        self.transfer.advance(count)
        self.post(ev.BytesMoved(count, self._loop.time()))

    def _fire(self, timer: ev.Timer) -> None:
        self._timers.pop(timer, None)
        self.post(ev.TimerFired(timer, self._loop.time()))

    def _stop_timer(self, timer: ev.Timer) -> None:
        handle = self._timers.pop(timer, None)
        if handle is not None:
            handle.cancel()

    def _on_session_end(self, ended: asyncio.Future[JingleReason]) -> None:
        if not ended.cancelled():
            self.post(ev.SessionEnded(ended.result(), self.session.ended_by_peer))

    async def _release(self) -> None:
        """Whatever way :meth:`run` leaves: no timer, task, socket or partial file survives."""
        self.session.ended.remove_done_callback(self._on_session_end)
        for timer in list(self._timers):
            self._stop_timer(timer)
        await self._close_transport()  # normally done already: CloseTransport precedes Finish
        tasks = list(self._tasks)  # what is left: a commit cut short by a second cancel
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._partial is not None and (self._outcome is None or self._outcome.error):
            self._partial.discard()
        if not self.session.state.ended:
            self.session.plugin.spawn(self.session.terminate(Reason.CANCEL, "cancelled"))

    def _new_hashers(self) -> dict[str, Hasher]:
        file = self.transfer.file
        hashers: dict[str, Hasher] = {}
        for algo in {HASH_ALGO, *file.hashes, *file.hash_used}:
            with contextlib.suppress(ValueError):
                hashers[algo] = new_hasher(algo)
        return hashers

    def _result(self, hash_verified: bool) -> TransferResult:
        transfer = self.transfer
        assert self._path is not None
        sent = transfer.direction is Direction.SEND
        return TransferResult(
            peer=transfer.peer,
            direction=transfer.direction,
            name=(transfer.file.name or self._path.name) if sent else self._path.name,
            size=transfer.progress,
            sha256=self._hashers[HASH_ALGO].hexdigest(),
            seconds=time.monotonic() - self._started,
            stream_seconds=None
            if self._streaming_since is None
            else time.monotonic() - self._streaming_since,
            transport=self.channel.namespace,
            security=transfer.security,
            path=self._path,
            hash_verified=hash_verified,
        )


def as_jet_error(error: BaseException, doing: str) -> JetError:
    """``error`` as the JetError to end the session with; anything else is a bug, logged."""
    if isinstance(error, JetError):
        return error
    log.error("unexpected failure while %s", doing, exc_info=error)
    return TransferError(f"internal error while {doing}: {error!r}", reason=Reason.GENERAL_ERROR)


def describe(error: IqError | IqTimeout) -> str:
    """A peer's IQ error (or its silence) in a few words."""
    if isinstance(error, IqTimeout):
        return "no answer"
    return f"{error.condition} {error.text}".strip()


class _Fanout:
    """Feeds every chunk to several hashers."""

    def __init__(self, hashers: dict[str, Hasher]) -> None:
        self._hashers = list(hashers.values())

    def update(self, data: bytes, /) -> None:
        for hasher in self._hashers:
            hasher.update(data)
