"""The transports of one content: the one in use, a replacement being negotiated, their stream.

A :class:`ContentChannel` only carries out intents: offer or answer a transport, take the
peer's transport elements, propose or answer a ``transport-replace``, switch, open the current
transport. *When* to do which (fallback order, timers) is the protocol's decision
(:mod:`.protocol`). The JET secret is unaffected by a switch: it belongs to the content.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from xml.etree import ElementTree as ET

from ..errors import ProtocolError, TransportError
from ..jingle import Action, Role, Session
from ..jingle.stanza import Content, namespace_of
from ..transports.base import (
    ByteSink,
    ByteSource,
    TransportContext,
    TransportMethod,
    TransportSession,
)


class ContentChannel:
    """Negotiates the byte stream of one content within a Jingle session."""

    def __init__(
        self, session: Session, content: Content, sending: bool, methods: Sequence[TransportMethod]
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
        self.transport: TransportSession | None = None
        self._replacement: TransportSession | None = None
        self._agreed = False
        """Whether a transport-accept for the replacement went out or came in: from then on
        the peer may send transport-info for it, even before we switch to it."""

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Every transport we support, best first."""
        return tuple(method.namespace for method in self.methods)

    @property
    def namespace(self) -> str:
        """The transport in use ('' before there is one)."""
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
        """As responder: take the initiator's offer and return our ``<transport/>``.

        Unusable parameters raise ProtocolError or TransportError before anything is sent.
        """
        method = self._method(namespace_of(remote)) if remote is not None else None
        if remote is None or method is None:
            raise TransportError("the offer names no transport we support")
        self.transport = await method.create_session(self.context, remote)
        return self.transport.description()

    async def announced(self) -> None:
        """Our offer or answer (session-initiate or session-accept) was acknowledged."""
        if self.transport is not None:
            await self.transport.description_sent()

    def accept_remote(self, remote: ET.Element | None) -> None:
        """The responder's ``<transport/>`` from session-accept: must be the one offered."""
        if remote is None or namespace_of(remote) != self.namespace:
            raise ProtocolError("session-accept carries a transport that was not offered")
        self._current().accept_remote(remote)

    async def handle_info(self, remote: ET.Element | None) -> None:
        """A transport-info for this content."""
        transport = self._transport_named(namespace_of(remote)) if remote is not None else None
        if remote is None or transport is None:
            raise ProtocolError("transport-info for a transport not in use")
        await transport.handle_info(remote)

    def _transport_named(self, namespace: str) -> TransportSession | None:
        """The agreed replacement, if it is a ``namespace`` transport (the peer may act on our
        transport-accept before its acknowledgement reaches us, and so before we switch), else
        the transport in use, if it is one (it stays in use until the switch)."""
        agreed = self._replacement if self._agreed else None
        for transport in (agreed, self.transport):
            if transport is not None and transport.namespace == namespace:
                return transport
        return None

    async def establish(self) -> ByteSource | ByteSink:
        """Open the transport in use, switching first to a negotiated replacement."""
        if self._replacement is not None:
            self._switch()
        return await self._current().establish()

    # -- transport-replace ----------------------------------------------------------------

    async def propose(self, namespace: str) -> None:
        """Send transport-replace with a new ``namespace`` transport (raises IqError/IqTimeout
        when the peer does not acknowledge it)."""
        method = self._method(namespace)
        if method is None:
            raise TransportError(f"no {namespace} transport to fall back to")
        self._drop_replacement()
        replacement = self._replacement = await method.create_session(self.context)
        offer = self._content(replacement.description())
        await self.session.send(Action.TRANSPORT_REPLACE, [offer])
        await replacement.description_sent()

    def take_answer(self, action: Action, remote: ET.Element | None) -> bool:
        """The peer's transport-accept (True) or transport-reject (False) of our proposal."""
        if self._replacement is None:
            raise ProtocolError("no transport-replace of ours to answer")
        if action is Action.TRANSPORT_REJECT:
            self._drop_replacement()
            return False
        if remote is None or namespace_of(remote) != self._replacement.namespace:
            raise ProtocolError("transport-accept names another transport than we proposed")
        self._replacement.accept_remote(remote)
        self._agreed = True
        return True

    async def receive_proposal(self, remote: ET.Element | None) -> str:
        """The peer's transport-replace: prepare the transport if we support it; its namespace.

        Malformed parameters raise ProtocolError (the IQ error); an unsupported transport is
        not an error here: the protocol rejects it.
        """
        namespace = namespace_of(remote) if remote is not None else ""
        method = self._method(namespace)
        if remote is not None and method is not None:
            self._drop_replacement()
            self._replacement = await method.create_session(self.context, remote)
        return namespace

    async def answer_proposal(self, accept: bool) -> None:
        """Send transport-accept (the next :meth:`establish` uses it) or transport-reject."""
        if not accept or self._replacement is None:
            self._drop_replacement()
            await self.session.send(Action.TRANSPORT_REJECT, [self._content(None)])
            return
        replacement = self._replacement
        self._agreed = True
        await self.session.send(Action.TRANSPORT_ACCEPT, [self._content(replacement.description())])
        await replacement.description_sent()

    def _switch(self) -> None:
        """Make the negotiated replacement the transport in use; the old one is closed."""
        if self.transport is not None:
            _close_quietly(self.transport)
        self.transport, self._replacement = self._replacement, None
        self._agreed = False

    def _drop_replacement(self) -> None:
        if self._replacement is not None:
            _close_quietly(self._replacement)
            self._replacement = None
        self._agreed = False

    def _content(self, transport: ET.Element | None) -> Content:
        return Content(creator=self.creator, name=self.name, transport=transport)

    async def _send_transport_info(self, transport: ET.Element) -> None:
        await self.session.send(Action.TRANSPORT_INFO, [self._content(transport)])

    def close(self) -> None:
        """Release every transport's listeners and sockets."""
        self._drop_replacement()
        if self.transport is not None:
            _close_quietly(self.transport)


def _close_quietly(transport: TransportSession) -> None:
    with contextlib.suppress(Exception):
        transport.close()
