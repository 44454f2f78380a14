"""XEP-0166 plugin ``xep_0166``: routes Jingle IQs to sessions and sessions to applications.

A thin I/O adapter around :class:`~slixmpp_jet.jingle.session.SessionState`: it parses each
incoming ``<jingle/>``, asks the state machine whether it is legal, answers bad ones with the
right IQ error and Jingle error element, and hands good ones to the application that owns the
session, in arrival order. A session is keyed by (peer full JID, sid), so only the session's
peer can ever reach it; anyone else gets ``<unknown-session/>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Coroutine, Iterable
from typing import Any, ClassVar, Protocol
from xml.etree import ElementTree as ET

from slixmpp import JID, Iq, Presence
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins import BasePlugin
from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from .. import quickack
from ..caps_filter import SyncCapsFilter
from ..errors import ProtocolError, Reason
from ..parser_renewal import ParserRenewal
from ..reconnect import Reconnector
from ..replies import error_to, result_to
from ..stream_guard import PayloadLimits, StreamGuard, oversize
from . import events, stanza
from .events import JingleAction
from .session import Action, Role, SessionState, State, tie_break_lost, unknown_session
from .stanza import Content, JingleReason

log = logging.getLogger(__name__)

JINGLE_LIMITS = PayloadLimits(depth=16, elements=1024, characters=256 * 1024)
"""The most a ``<jingle/>`` may hold. The deepest the XEPs nest is 7 levels (content,
security, OMEMO encrypted, header, keys, key); hundreds of candidates or keys fit."""


class JingleApplication(Protocol):
    """What an application (e.g. file transfer) provides to the Jingle plugin."""

    async def handle_initiate(self, session: Session, initiate: JingleAction) -> None:
        """A new session from a peer, already acknowledged. Raise a JetError to terminate it."""
        ...

    async def handle_action(self, session: Session, event: JingleAction) -> None:
        """Any later action except session-terminate. Raise ProtocolError to answer an IQ error."""
        ...


class Session:
    """One Jingle session: who, which role, its state, and the verbs to act on it."""

    def __init__(
        self, plugin: XEP_0166, sid: str, peer: str, role: Role, application: JingleApplication
    ) -> None:
        self.plugin = plugin
        self.sid = sid
        self.peer = peer
        self.local = str(plugin.xmpp.boundjid)
        self.role = role
        self.application = application
        self.state = SessionState(sid, role)
        self.ended: asyncio.Future[JingleReason] = asyncio.get_running_loop().create_future()
        """Resolves with the reason once the session has ended, whoever ended it."""
        self.ended_by_peer = False
        self._inbox: asyncio.Queue[tuple[Iq, JingleAction]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    @property
    def initiator(self) -> str:
        return self.local if self.role is Role.INITIATOR else self.peer

    @property
    def responder(self) -> str:
        return self.peer if self.role is Role.INITIATOR else self.local

    async def send(
        self,
        action: Action,
        contents: Iterable[Content] = (),
        extra: Iterable[ET.Element] = (),
        timeout: float | None = None,
    ) -> None:
        """Send ``action`` and wait for the peer's acknowledgement (IqError/IqTimeout if not)."""
        self.state.send(action)
        iq = self.plugin.xmpp.make_iq_set(ito=self.peer)
        jingle = iq["jingle"]
        jingle["action"] = action.value
        jingle["sid"] = self.sid
        if action is Action.SESSION_INITIATE:
            jingle["initiator"] = self.local
        elif action is Action.SESSION_ACCEPT:
            jingle["responder"] = self.local
        stanza.fill(jingle, contents, extra)
        await iq.send(timeout=timeout or self.plugin.iq_timeout)

    async def terminate(self, reason: Reason, text: str | None = None) -> None:
        """End the session with ``reason``; safe to call when it has already ended.

        Before session-initiate went out the peer knows nothing of it, so nothing is sent.
        """
        if self.state.ended:
            return
        ending = JingleReason(reason, text)
        if self.state.state is State.NEW:
            self.plugin.forget(self, ending)
            return
        self.state.send(Action.SESSION_TERMINATE)
        self.plugin.forget(self, ending)
        iq = self.plugin.xmpp.make_iq_set(ito=self.peer)
        iq["jingle"]["action"] = Action.SESSION_TERMINATE.value
        iq["jingle"]["sid"] = self.sid
        stanza.fill(iq["jingle"], extra=[ending.to_xml()])
        with contextlib.suppress(IqError, IqTimeout):
            await iq.send(timeout=self.plugin.iq_timeout)

    def mark_ended(self, reason: JingleReason, by_peer: bool) -> None:
        """Mark the session ended and answer every IQ still waiting for the application.

        The plugin calls this through :meth:`XEP_0166.forget`; applications call
        :meth:`terminate` instead."""
        if self.ended.done():
            return
        self.state.abandon()
        self.ended_by_peer = by_peer
        self.ended.set_result(reason)
        while not self._inbox.empty():
            iq, _ = self._inbox.get_nowait()
            reply_error(iq, unknown_session(self.sid))
        if self._worker is not None and self._worker is not asyncio.current_task():
            self._worker.cancel()

    def deliver(self, iq: Iq, event: JingleAction) -> None:
        """Queue the peer's action for the application, in arrival order (the plugin's call)."""
        self._inbox.put_nowait((iq, event))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._work())

    async def _work(self) -> None:
        while not self.ended.done():
            iq, event = await self._inbox.get()
            try:
                await self.application.handle_action(self, event)
            except asyncio.CancelledError:
                interrupted = ProtocolError("interrupted", condition="internal-server-error")
                reply_error(iq, unknown_session(self.sid) if self.ended.done() else interrupted)
                raise
            except ProtocolError as error:
                reply_error(iq, error)
            except Exception:
                log.exception("Jingle %s in session %s failed", event.action.value, self.sid)
                reply_error(iq, ProtocolError("internal error", condition="internal-server-error"))
            else:
                result_to(iq).send()

    def __repr__(self) -> str:
        return f"<Jingle session {self.sid} with {self.peer} as {self.role.value}>"


def reply_error(iq: Iq, error: ProtocolError) -> None:
    """Answer ``iq`` with the IQ error (and Jingle error element) ``error`` maps to."""
    extension = None
    if error.jingle_condition:
        extension = ET.Element(f"{{{stanza.NS_ERRORS}}}{error.jingle_condition}")
    error_to(iq, error.condition, str(error), extension).send()


class XEP_0166(BasePlugin):  # noqa: N801  (slixmpp's plugin naming)
    """Jingle: session routing, acknowledgements, errors and disco for Jingle applications.

    Config: ``iq_timeout`` (30 s); ``stream_guard`` (True): install a
    :class:`~slixmpp_jet.stream_guard.StreamGuard` on the client, so that no stanza nested
    too deep reaches any handler, and a :class:`~slixmpp_jet.parser_renewal.ParserRenewal`,
    so that the stream's parser cannot collect names without end; ``reconnect`` (False): a
    :class:`~slixmpp_jet.reconnect.Reconnector` brings the client back after a lost stream
    (it lets ``disconnect()`` be).
    """

    name = "xep_0166"
    description = "XEP-0166: Jingle (slixmpp-jet)"
    dependencies: ClassVar[set[str]] = {"xep_0030"}
    default_config: ClassVar[dict[str, Any]] = {
        "iq_timeout": 30.0,
        "stream_guard": True,
        "reconnect": False,
        "quick_ack": True,
    }

    def plugin_init(self) -> None:
        stanza.register_plugins()
        self._quick_ack = quickack.install(self.xmpp) if self.quick_ack else None
        self._caps_filter()  # made here, unless session_bind came first (a late-loaded plugin)
        self._sessions: dict[tuple[str, str], Session] = {}
        self._applications: dict[str, JingleApplication] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.guard: StreamGuard | None = None
        self.parser_renewal: ParserRenewal | None = None
        if self.config["stream_guard"]:
            self.guard = StreamGuard(self.xmpp)
            self.guard.install()
            self.parser_renewal = ParserRenewal(self.xmpp)
            self.parser_renewal.install()
        self.reconnector: Reconnector | None = None
        if self.config["reconnect"]:
            self.reconnector = Reconnector(self.xmpp)
            self.reconnector.start()
        self.xmpp.register_handler(
            Callback(
                "Jingle",
                MatchXPath(f"{{{self.xmpp.default_ns}}}iq/{{{stanza.NS}}}jingle"),
                self._on_jingle,
            )
        )
        self.xmpp.add_event_handler("presence_unavailable", self._on_unavailable)
        self.xmpp.add_event_handler("session_end", self._on_session_end)

    def plugin_end(self) -> None:
        self._on_session_end(None)
        self.xmpp.remove_handler("Jingle")
        self.xmpp.del_event_handler("presence_unavailable", self._on_unavailable)
        self.xmpp.del_event_handler("session_end", self._on_session_end)
        self.xmpp.plugin["xep_0030"].del_feature(feature=stanza.NS)
        if self.guard is not None:
            self.guard.remove()
        if self.parser_renewal is not None:
            self.parser_renewal.remove()
        if self._quick_ack is not None:
            self._quick_ack.remove()
        self._caps_filter().remove()
        if self.reconnector is not None:
            self.reconnector.stop()

    def session_bind(self, jid: JID) -> None:
        self._caps_filter().install()  # xep_0115 may have been loaded after us
        self.advertise(stanza.NS)

    def _caps_filter(self) -> SyncCapsFilter:
        """Our stand-in for xep_0115's filter. slixmpp calls ``session_bind`` before
        ``plugin_init`` for a plugin loaded once the session is bound, so either makes it."""
        if not hasattr(self, "caps_filter"):
            self.caps_filter = SyncCapsFilter(self.xmpp)
        return self.caps_filter

    def advertise(self, *features: str) -> None:
        """Add disco features and refresh our caps, if caps are in use."""
        for feature in features:
            self.xmpp.plugin["xep_0030"].add_feature(feature)
        if "xep_0115" in self.xmpp.plugin:
            self.spawn(self.xmpp.plugin["xep_0115"].update_caps())

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coroutine`` in the background, holding a reference until it finishes.

        A failure is logged: nobody awaits these (a peer that does not ack a best-effort
        content-reject, say), and the session they belong to handles its own end.
        """
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("background Jingle task failed: %r", error)

    def register_application(self, namespace: str, application: JingleApplication) -> None:
        """Route sessions whose first content's description is in ``namespace`` to it."""
        self._applications[namespace] = application

    def new_session(self, peer: JID | str, application: JingleApplication) -> Session:
        """A session we initiate; send session-initiate through it."""
        session = Session(self, secrets.token_hex(8), str(JID(peer)), Role.INITIATOR, application)
        self._sessions[(session.peer, session.sid)] = session
        return session

    def forget(self, session: Session, reason: JingleReason, by_peer: bool = False) -> None:
        """Drop an ended session; later IQs for it get ``<unknown-session/>``."""
        self._sessions.pop((session.peer, session.sid), None)
        session.mark_ended(reason, by_peer)

    def _on_jingle(self, iq: StanzaBase) -> None:
        if not isinstance(iq, Iq) or iq["type"] not in ("set", "get"):
            return
        try:
            if iq["type"] == "get":
                raise ProtocolError("Jingle actions are IQ-sets, not IQ-gets")
            if (why := oversize(iq["jingle"].xml, JINGLE_LIMITS)) is not None:
                raise ProtocolError(f"the jingle element is {why}")
            self._route(iq)
        except ProtocolError as error:
            reply_error(iq, error)

    def _route(self, iq: Iq) -> None:
        event = events.parse(iq["jingle"])
        peer = str(iq["from"])
        session = self._sessions.get((peer, event.sid))
        if event.action is Action.SESSION_INITIATE:
            self._initiate(iq, event, peer, session)
            return
        if session is None:
            raise unknown_session(event.sid)
        session.state.receive(event.action)
        if event.action is Action.SESSION_TERMINATE:
            result_to(iq).send()
            self.forget(session, event.reason or JingleReason(Reason.GENERAL_ERROR), by_peer=True)
            return
        session.deliver(iq, event)

    def _initiate(self, iq: Iq, event: JingleAction, peer: str, existing: Session | None) -> None:
        if existing is not None and existing.role is Role.RESPONDER:
            existing.state.receive(Action.SESSION_INITIATE)  # raises out-of-order
        contents = event.contents
        if not contents or any(c.description is None or c.transport is None for c in contents):
            raise ProtocolError("session-initiate needs contents with a description and transport")
        if existing is not None:
            self._break_tie(existing, event.sid, peer)
        namespace = stanza.namespace_of(contents[0].description)  # type: ignore[arg-type]
        application = self._applications.get(namespace, _NONE)
        session = Session(self, event.sid, peer, Role.RESPONDER, application)
        session.state.receive(Action.SESSION_INITIATE)
        self._sessions[(peer, event.sid)] = session
        result_to(iq).send()
        self.spawn(self._start(session, event, namespace))

    def _break_tie(self, ours: Session, sid: str, peer: str) -> None:
        """Both sides initiated with the same sid: the lower JID wins (XEP-0166 §7.2.16)."""
        if not tie_break_lost(ours.sid, ours.local, sid, peer):
            raise ProtocolError(
                "same sid as our session-initiate",
                condition="conflict",
                jingle_condition="tie-break",
            )
        lost = JingleReason(
            Reason.ALTERNATIVE_SESSION, "the peer's initiate won", alternative_sid=sid
        )
        self.forget(ours, lost)

    async def _start(self, session: Session, initiate: JingleAction, namespace: str) -> None:
        if session.application is _NONE:
            await session.terminate(Reason.UNSUPPORTED_APPLICATIONS, f"nothing handles {namespace}")
            return
        try:
            await session.application.handle_initiate(session, initiate)
        except Exception as error:
            reason = getattr(error, "reason", Reason.FAILED_APPLICATION)
            if not isinstance(error, ProtocolError | ValueError) and not hasattr(error, "reason"):
                log.exception("handling session-initiate %s failed", session.sid)
            await session.terminate(reason, str(error))

    def _on_unavailable(self, presence: Presence) -> None:
        gone = str(presence["from"])
        for session in [s for (peer, _), s in self._sessions.items() if peer == gone]:
            self.forget(session, JingleReason(Reason.GONE, "the peer went offline"), by_peer=True)

    def _on_session_end(self, _event: object) -> None:
        """Our own stream ended: no session can go on, and no peer will hear from us."""
        ending = JingleReason(Reason.CONNECTIVITY_ERROR, "we lost our connection to the server")
        for session in list(self._sessions.values()):
            self.forget(session, ending)


class _NoApplication:
    """Placeholder application for sessions nobody handles; they are terminated at once."""

    async def handle_initiate(self, session: Session, initiate: JingleAction) -> None:
        raise AssertionError("never called")

    async def handle_action(self, session: Session, event: JingleAction) -> None:
        raise ProtocolError("no application", condition="feature-not-implemented")


_NONE: JingleApplication = _NoApplication()
