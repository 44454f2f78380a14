"""The transport of one content: negotiation, SOCKS5 → IBB fallback, and the resulting stream.

File transfer asks a :class:`ContentChannel` for a :class:`ByteStream` and never learns which
transport carried it. When the first transport fails, the initiator sends ``transport-replace``
with the next one by preference (XEP-0260 §3); the responder accepts a replacement in any
pending state. The JET secret is unaffected: it belongs to the content, not the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET

from ..errors import ProtocolError, TransportError
from ..jingle import Action, Role, Session
from ..jingle.stanza import Content, namespace_of
from ..transports.base import ByteStream, TransportContext, TransportMethod, TransportSession


class ContentChannel:
    """Negotiates the byte stream of one content within a Jingle session."""

    def __init__(
        self,
        session: Session,
        content: Content,
        sending: bool,
        methods: Sequence[TransportMethod],
        replace_timeout: float = 30.0,
    ) -> None:
        self.session = session
        self.creator = content.creator
        self.name = content.name
        self.context = TransportContext(
            sid=session.sid,
            content_name=content.name,
            local_jid=session.local,
            peer_jid=session.peer,
            initiator=session.role is Role.INITIATOR,
            sending=sending,
            send_transport_info=self._send_transport_info,
        )
        self.methods = sorted(methods, key=lambda method: -method.preference)
        self.replace_timeout = replace_timeout
        self.transport: TransportSession | None = None
        loop = asyncio.get_running_loop()
        self._replacement: asyncio.Future[TransportSession] = loop.create_future()
        self._replace_answer: asyncio.Future[tuple[Action, ET.Element | None]] | None = None

    @property
    def namespace(self) -> str:
        return self.transport.namespace if self.transport is not None else ""

    def _method(self, namespace: str) -> TransportMethod | None:
        return next((m for m in self.methods if m.namespace == namespace), None)

    def _current(self) -> TransportSession:
        if self.transport is None:
            raise TransportError("no transport negotiated yet")
        return self.transport

    async def offer(self) -> ET.Element:
        """As initiator: create the preferred transport and return our ``<transport/>``."""
        self.transport = await self.methods[0].create_session(self.context)
        return self.transport.description()

    async def answer(self, remote: ET.Element | None) -> ET.Element:
        """As responder: take the initiator's offer and return our ``<transport/>``."""
        method = self._method(namespace_of(remote)) if remote is not None else None
        if remote is None or method is None:
            raise TransportError("the offer names no transport we support")
        self.transport = await method.create_session(self.context, remote)
        return self.transport.description()

    def accept_remote(self, remote: ET.Element | None) -> None:
        """The responder's ``<transport/>`` from session-accept: must be the one offered."""
        if remote is None or namespace_of(remote) != self.namespace:
            raise ProtocolError("session-accept carries a transport that was not offered")
        self._current().accept_remote(remote)

    async def handle_info(self, remote: ET.Element | None) -> None:
        """A transport-info for this content."""
        if remote is None or namespace_of(remote) != self.namespace:
            raise ProtocolError("transport-info for a transport not in use")
        await self._current().handle_info(remote)

    async def handle_replace(self, remote: ET.Element | None) -> None:
        """The peer's transport-replace: accept it (after the ack) if we support it."""
        method = self._method(namespace_of(remote)) if remote is not None else None
        if remote is None or method is None:
            self.session.plugin.spawn(self._answer_replace(None))
            return
        replacement = await method.create_session(self.context, remote)
        self.session.plugin.spawn(self._answer_replace(replacement))

    async def _answer_replace(self, replacement: TransportSession | None) -> None:
        if replacement is None:
            await self.session.send(Action.TRANSPORT_REJECT, [self._content(None)])
            return
        if not self._replacement.done():
            self._replacement.set_result(replacement)
        await self.session.send(Action.TRANSPORT_ACCEPT, [self._content(replacement.description())])

    def handle_replace_answer(self, action: Action, remote: ET.Element | None) -> None:
        """transport-accept or transport-reject of our transport-replace."""
        if self._replace_answer is None or self._replace_answer.done():
            raise ProtocolError("no transport-replace of ours to answer")
        self._replace_answer.set_result((action, remote))

    async def establish(self) -> ByteStream:
        """The open stream, falling back to the next transport when one fails."""
        while True:
            transport = self._current()
            waiter = self._replacement
            attempt = asyncio.ensure_future(transport.establish())
            pending: set[asyncio.Future[Any]] = {attempt, waiter}
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done():
                error = attempt.exception()
                if error is None:
                    return attempt.result()
                if not isinstance(error, TransportError):
                    raise error
                await self._fall_back(error)
            self._switch(attempt)

    async def _fall_back(self, error: TransportError) -> None:
        """After a failed attempt: replace the transport (initiator) or await the peer's."""
        if self.context.initiator:
            await self._replace(error)
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._replacement), self.replace_timeout)
        except TimeoutError:
            raise error from None

    def _switch(self, attempt: asyncio.Future[ByteStream]) -> None:
        if attempt.done() and not attempt.cancelled() and attempt.exception() is None:
            attempt.result().abort()
        attempt.cancel()
        self._current().close()
        self.transport = self._replacement.result()
        self._replacement = asyncio.get_running_loop().create_future()

    async def _replace(self, error: TransportError) -> None:
        """Send transport-replace with the next transport by preference and await the answer."""
        position = next(i for i, m in enumerate(self.methods) if m.namespace == self.namespace)
        later = self.methods[position + 1 :]
        if not later:
            raise error
        replacement = await later[0].create_session(self.context)
        self._replace_answer = asyncio.get_running_loop().create_future()
        offer = self._content(replacement.description())
        await self.session.send(Action.TRANSPORT_REPLACE, [offer])
        action, remote = await asyncio.wait_for(self._replace_answer, self.replace_timeout)
        if action is Action.TRANSPORT_REJECT or remote is None:
            replacement.close()
            raise TransportError("the peer rejected the fallback transport")
        replacement.accept_remote(remote)
        self._replacement.set_result(replacement)

    def _content(self, transport: ET.Element | None) -> Content:
        return Content(creator=self.creator, name=self.name, transport=transport)

    async def _send_transport_info(self, transport: ET.Element) -> None:
        await self.session.send(Action.TRANSPORT_INFO, [self._content(transport)])

    def close(self) -> None:
        """Release the transport's listeners and sockets."""
        if self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.close()
