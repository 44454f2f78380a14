"""XEP-0234 plugin ``xep_0234``: offer, request and serve files over Jingle, optionally JET.

Subclasses slixmpp's own minimal ``xep_0234`` so plugins using its ``File`` stanza (SIMS,
thumbnails) keep working. The application talks to :meth:`send_file`, :meth:`request_file`,
:meth:`serve` and the ``jingle_file_offer`` event; the Jingle plugin talks to
:meth:`handle_initiate` and :meth:`handle_action`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from slixmpp import JID, Presence
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins import xep_0234 as slixmpp_file_transfer

from .._plugins import is_loaded, loaded
from ..errors import (
    JetError,
    LocalFileError,
    ProtocolError,
    Reason,
    TransferDeclined,
    TransferError,
    TransportError,
)
from ..jet.envelope import EnvelopeContext
from ..jet.plugin import XEP_0391
from ..jet.security import StreamSecurity
from ..jingle import Action, JingleAction, Role, Session
from ..jingle.plugin import XEP_0166
from ..jingle.stanza import Content, JingleReason, namespace_of
from ..transports.base import TransportMethod
from ..transports.webrtc import NS as NS_WEBRTC
from .actions import dispatch, session_info
from .admission import RefusedPeer, SessionCounter
from .channel import ContentChannel
from .hashes import hash_features
from .job import Destination, Job, describe
from .names import safe_filename
from .pipeline import ensure_room
from .protocol import Timeouts
from .quirks import PayloadFormChoice, is_libervia, software_of
from .serving import FileServer, ServePolicy, describe_file, existing_directory
from .stanza import NS_FT, FileInfo, build_description, parse_description
from .transfer import (
    Direction,
    FileOffer,
    RefusedOffer,
    Security,
    Transfer,
    TransferFailure,
    TransferResult,
)

TRANSPORT_PLUGINS = {
    "webrtc": "jingle_webrtc_datachannel",
    "s5b": "xep_0260",
    "ibb": "xep_0261",
}
"""The transport plugins by short name. ``webrtc`` takes part only when its plugin is registered
(and aiortc installed); it is then offered first to peers that advertise it."""
SOFTWARE_ASKED_MAX = 4096
"""Clients whose software (XEP-0092) we remember having asked; the oldest is forgotten first."""
PEER_FEATURES_TIMEOUT = 10.0
PEER_FEATURES_MAX = 4096
"""Clients whose disco features we keep (forgotten when they go offline, else oldest first)."""
MAX_EARLY_INFO = 32
"""Transport-infos kept for an offer the application has not answered yet (Conversations
trickles its ICE candidates right after session-initiate)."""

log = logging.getLogger(__name__)


class XEP_0234(slixmpp_file_transfer.XEP_0234):  # noqa: N801  (slixmpp's plugin naming)
    """Jingle File Transfer with JET, SOCKS5 and IBB."""

    description = "XEP-0234: Jingle File Transfer (slixmpp-jet)"
    dependencies: ClassVar[set[str]] = {
        *slixmpp_file_transfer.XEP_0234.dependencies,
        "xep_0030",
        "xep_0166",
        "xep_0260",
        "xep_0261",
        "xep_0391",
    }
    default_config: ClassVar[dict[str, Any]] = {
        "allow_peer": None,
        "max_sessions_per_peer": 8,
        "max_sessions": 64,
        "max_size": None,
        "accept_unknown_size": False,
        "free_space_margin": 16 * 1024 * 1024,
        "idle_timeout": 60.0,
        "accept_timeout": None,
        "answer_timeout": 300.0,
        "checksum_timeout": 10.0,
        "end_timeout": 60.0,
        "replace_timeout": 30.0,
        "progress_step": 256 * 1024,
        "detect_peer_quirks": True,
        "transports": None,
    }

    def plugin_init(self) -> None:
        self._jobs: dict[Session, Job] = {}
        self._peer_sessions = SessionCounter()
        self._own_sessions = SessionCounter()
        self._server: FileServer | None = None
        self._hex_checksum_peers: set[str] = set()
        self._software_asked: dict[str, None] = {}
        """Clients asked for their software, oldest first, at most ``SOFTWARE_ASKED_MAX``."""
        self._features: dict[str, frozenset[str]] = {}
        self._early: dict[Session, list[JingleAction]] = {}
        self._jingle.register_application(NS_FT, self)
        self.xmpp.add_event_handler("presence_unavailable", self._forget_features)

    def session_bind(self, jid: JID) -> None:
        self._jingle.advertise(NS_FT, *hash_features())

    def plugin_end(self) -> None:
        self.xmpp.del_event_handler("presence_unavailable", self._forget_features)
        for feature in [NS_FT, *hash_features()]:
            self.xmpp.plugin["xep_0030"].del_feature(feature=feature)

    @property
    def _jingle(self) -> XEP_0166:
        plugin: XEP_0166 = loaded(self.xmpp, "xep_0166")
        return plugin

    @property
    def _jet(self) -> XEP_0391:
        plugin: XEP_0391 = loaded(self.xmpp, "xep_0391")
        return plugin

    def _methods(self, transport: str = "auto") -> list[TransportMethod]:
        if transport == "auto":
            allowed = self.transports if self.transports is not None else TRANSPORT_PLUGINS
            names = [
                name
                for key, name in TRANSPORT_PLUGINS.items()
                if key in allowed and is_loaded(self.xmpp, name)
            ]
        elif transport in TRANSPORT_PLUGINS:
            names = [TRANSPORT_PLUGINS[transport]]
            if not is_loaded(self.xmpp, names[0]):
                self.xmpp.register_plugin(names[0])
        else:
            raise ValueError(f"unknown transport {transport!r}: use auto, webrtc, s5b or ibb")
        methods = [loaded(self.xmpp, name) for name in names]
        return [method for method in methods if getattr(method, "available", True)]

    async def _methods_for(self, peer: str, transport: str) -> list[TransportMethod]:
        """What to offer ``peer``: with ``auto``, the data channel only if the peer has it."""
        methods = self._methods(transport)
        if transport != "auto" or not any(m.namespace == NS_WEBRTC for m in methods):
            return methods
        if NS_WEBRTC in await self._peer_features(peer):
            return methods
        return [method for method in methods if method.namespace != NS_WEBRTC]

    def _forget_features(self, presence: Presence) -> None:
        """A client that went offline may come back as another one."""
        self._features.pop(str(presence["from"]), None)

    async def _peer_features(self, peer: str) -> frozenset[str]:
        """The disco features of the full JID ``peer`` (kept while it stays online; none if
        it does not answer)."""
        known = self._features.get(peer)
        if known is not None:
            return known
        disco = self.xmpp.plugin["xep_0030"]
        try:
            info = await disco.get_info(jid=JID(peer), timeout=PEER_FEATURES_TIMEOUT)
        except (IqError, IqTimeout):
            return frozenset()
        if len(self._features) >= PEER_FEATURES_MAX:
            del self._features[next(iter(self._features))]
        features = self._features[peer] = frozenset(info["disco_info"]["features"])
        return features

    def _new_transfer(
        self,
        session: Session,
        direction: Direction,
        file: FileInfo,
        security: StreamSecurity | None,
    ) -> Transfer:
        def report(transfer: Transfer) -> None:
            self.xmpp.event("jingle_transfer_progress", transfer)

        shown = Security.describing(security) if security is not None else None
        return Transfer(
            session.sid, session.peer, direction, file, shown, report, self.progress_step
        )

    # -- the application's verbs --------------------------------------------------------

    async def send_file(
        self,
        jid: JID | str,
        path: Path | str,
        *,
        name: str | None = None,
        media_type: str | None = None,
        desc: str | None = None,
        encrypt: str | None = None,
        cipher: str | None = None,
        transport: str = "auto",
    ) -> Transfer:
        """Offer the file at ``path`` to the full JID ``jid``; returns once the offer is sent.

        While ``max_sessions_per_peer`` of our sessions with that account (or ``max_sessions`` in
        all) are under way, it first waits for one to end: what we ask of peers, we do.

        ``encrypt`` names an envelope (``"omemo"``, ``"openpgp"``): then the transfer is JET
        encrypted or fails; it never falls back to plaintext. ``await`` the returned transfer
        for its :class:`~.transfer.TransferResult`.
        """
        source = Path(path)
        file = describe_file(source, name, media_type, desc, encrypted=encrypt is not None)
        session = self._jingle.new_session(jid, self)
        content = Content(Role.INITIATOR, "a-file-offer", senders="initiator")
        return await self._initiate(
            session,
            content,
            file,
            Direction.SEND,
            encrypt,
            cipher,
            transport,
            source,
        )

    async def request_file(
        self,
        jid: JID | str,
        directory: Path | str,
        *,
        name: str | None = None,
        hashes: dict[str, bytes] | None = None,
        encrypt: str | None = None,
        cipher: str | None = None,
        transport: str = "auto",
        overwrite: bool = False,
    ) -> Transfer:
        """Ask the full JID ``jid`` for a file (by ``name`` and/or ``hashes``) into ``directory``.

        With ``encrypt`` we make the transport secret and the sender encrypts with it.
        """
        target = existing_directory(directory)
        if not name and not hashes:
            raise ValueError("a request needs a file name or a hash")
        selector = FileInfo(name=name, hashes=hashes or {})
        session = self._jingle.new_session(jid, self)
        content = Content(Role.INITIATOR, "a-file-request", senders="responder")
        destination = Destination(target, safe_filename(name), overwrite, self.max_size)
        return await self._initiate(
            session, content, selector, Direction.RECEIVE, encrypt, cipher, transport, destination
        )

    def serve(
        self,
        directory: Path | str,
        allow: ServePolicy | None = None,
        require_encryption: bool = False,
    ) -> None:
        """Answer file requests with regular files directly inside ``directory``, nothing else.

        ``allow(peer_full_jid, requested_file)`` may refuse a request; with
        ``require_encryption`` a request without JET security is refused (``security-error``).
        """
        self._server = FileServer(existing_directory(directory), allow, require_encryption)

    def use_hex_checksum(self, bare_jid: JID | str, enabled: bool = True) -> None:
        """Send ``bare_jid`` our checksums as Base64 of the hex digest, the form Libervia reads.

        Libervia cannot parse standard XEP-0300 values: it then skips the hash check and waits
        five seconds. Received checksums are accepted in both forms regardless.
        """
        peer = JID(bare_jid).bare
        if enabled:
            self._hex_checksum_peers.add(peer)
        else:
            self._hex_checksum_peers.discard(peer)

    async def _adapt_to(self, peer: str) -> None:
        """Once per client: choose the known quirks of the software ``peer`` reports."""
        if not self.detect_peer_quirks or peer in self._software_asked:
            return
        self._software_asked[peer] = None
        if len(self._software_asked) > SOFTWARE_ASKED_MAX:
            del self._software_asked[next(iter(self._software_asked))]
        software = await software_of(self.xmpp, peer)
        if not is_libervia(software):
            return
        bare = JID(peer).bare
        log.info("%s runs %s: it gets hex checksums and the OMEMO payload form", peer, software)
        self.use_hex_checksum(bare)
        if "omemo" in self._jet.envelope_names:
            envelope = self._jet.envelope("omemo")
            if isinstance(envelope, PayloadFormChoice):
                envelope.use_payload_form(bare)

    def _hex_checksum(self, session: Session) -> bool:
        return JID(session.peer).bare in self._hex_checksum_peers

    async def _initiate(
        self,
        session: Session,
        content: Content,
        file: FileInfo,
        direction: Direction,
        encrypt: str | None,
        cipher: str | None,
        transport: str,
        target: Path | Destination,
    ) -> Transfer:
        channel: ContentChannel | None = None
        try:
            await self._room_for(session)
            await self._adapt_to(session.peer)
            methods = await self._methods_for(session.peer, transport)
            security, security_element = None, None
            if encrypt is not None:
                context = EnvelopeContext(session.sid, session.local, session.peer)
                security_element, security = await self._jet.seal(
                    encrypt, cipher, content.name, context
                )
            channel = ContentChannel(session, content, direction is Direction.SEND, methods)
            offer = Content(
                content.creator,
                content.name,
                content.senders,
                description=build_description(file),
                transport=await channel.offer(),
                security=security_element,
            )
            transfer = self._new_transfer(session, direction, file, security)
            job = self._new_job(session, content, channel, transfer, security, target)
            await session.send(Action.SESSION_INITIATE, [offer])
        except BaseException as error:
            self._jobs.pop(session, None)
            if isinstance(error, IqError):
                self._jingle.forget(session, _reason_of(error))  # the peer refused it
            else:  # the peer may have the initiate (an unanswered or withdrawn one): end it
                self._jingle.spawn(session.terminate(Reason.CANCEL, "the offer was withdrawn"))
            if channel is not None:
                channel.close()
            if isinstance(error, IqError | IqTimeout):
                raise TransferError(
                    f"{session.peer} refused the session: {describe(error)}"
                ) from None
            raise
        self._run(job)  # before anything else is awaited: the peer's answer may come any time
        await channel.announced()
        return transfer

    async def _room_for(self, session: Session) -> None:
        """Wait while our own sessions with the peer's account, or in total, are at the limits
        peers are held to (``max_sessions_per_peer``, ``max_sessions``)."""
        release = await self._own_sessions.room_for(
            session.peer, self.max_sessions_per_peer, self.max_sessions
        )
        session.ended.add_done_callback(lambda _: release())

    def _new_job(
        self,
        session: Session,
        content: Content,
        channel: ContentChannel,
        transfer: Transfer,
        security: StreamSecurity | None,
        target: Path | Destination,
        answer: Content | None = None,
    ) -> Job:
        timeouts = Timeouts(
            accept=self.accept_timeout,
            idle=self.idle_timeout,
            replace=self.replace_timeout,
            checksum=self.checksum_timeout,
            verdict=self.end_timeout,
        )
        job = Job(
            session,
            content,
            channel,
            transfer,
            security,
            timeouts,
            target,
            answer=answer,
            hex_checksum=self._hex_checksum(session),
        )
        self._jobs[session] = job
        return job

    def _run(self, job: Job) -> None:
        """Start ``job`` as its transfer's task; events report that it started and how it ended."""
        job.start()
        job.transfer.start(self._track(job))
        self.xmpp.event("jingle_transfer_started", job.transfer)

    async def _track(self, job: Job) -> TransferResult:
        try:
            result = await job.run()
            self.xmpp.event("jingle_transfer_done", result)
            return result
        except BaseException as error:
            self.xmpp.event("jingle_transfer_failed", TransferFailure(job.transfer, error))
            raise
        finally:
            self._jobs.pop(job.session, None)

    # -- the Jingle application side ------------------------------------------------------

    async def handle_initiate(self, session: Session, initiate: JingleAction) -> None:
        """A peer's offer or request: the peer gate first, then its security, then the
        application.

        A peer ``allow_peer`` refuses, or one whose session would go over ``max_sessions_per_peer``
        (counted per account) or ``max_sessions``, gets a plain ``<decline/>`` before anything of
        its offer is read: no envelope opened, no file, no state beyond the session being ended;
        this is announced as ``jingle_peer_refused`` (:class:`RefusedPeer`). Any other refusal
        ends the session (the Jingle plugin sends the error's reason) and is announced as
        ``jingle_offer_refused``.
        """
        refusal = self._gate(session.peer)
        if refusal is not None:
            self.xmpp.event("jingle_peer_refused", RefusedPeer(session.peer, refusal))
            await session.terminate(Reason.DECLINE, refusal)
            return
        release = self._peer_sessions.hold(session.peer)
        session.ended.add_done_callback(lambda _: release())
        self._early[session] = []
        session.ended.add_done_callback(lambda _: self._early.pop(session, None))
        try:
            await self._incoming(session, initiate.contents)
        except Exception as error:
            self.xmpp.event("jingle_offer_refused", RefusedOffer(session.peer, error))
            raise

    def _gate(self, peer: str) -> str | None:
        """Why a session from ``peer`` is declined unread, if it is."""
        if self.allow_peer is not None and not self.allow_peer(peer):
            return "files are not accepted from this account"
        return self._peer_sessions.refusal(peer, self.max_sessions_per_peer, self.max_sessions)

    async def _incoming(self, session: Session, contents: tuple[Content, ...]) -> None:
        if len(contents) != 1:
            raise JetError(
                "only one file per session is supported", reason=Reason.FAILED_APPLICATION
            )
        content = contents[0]
        if (
            content.senders not in ("initiator", "responder")
            or content.creator is not Role.INITIATOR
        ):
            raise JetError(
                "a file content must be sent by one party", reason=Reason.FAILED_APPLICATION
            )
        if content.description is None or content.transport is None:
            raise ProtocolError("a file content needs a description and a transport")
        file = parse_description(content.description)
        offered = namespace_of(content.transport)
        if not any(method.namespace == offered for method in self._methods()):
            raise JetError("no common transport", reason=Reason.UNSUPPORTED_TRANSPORTS)
        context = EnvelopeContext(session.sid, session.peer, session.local)
        security = await self._jet.open(content.security, content.name, context)
        if content.senders == "initiator":
            await self._offered(session, content, file, security)
        else:
            await self._requested(session, content, file, security)

    async def _offered(
        self,
        session: Session,
        content: Content,
        file: FileInfo,
        security: StreamSecurity | None,
    ) -> None:
        refusal = self._size_refusal(file.size)
        if refusal is not None:
            raise TransferDeclined(refusal)
        transfer = self._new_transfer(session, Direction.RECEIVE, file, security)

        async def accept(directory: Path, name: str | None, overwrite: bool) -> Transfer:
            stop_waiting()
            try:
                target = existing_directory(directory)
            except ValueError as error:  # the application's mistake: the peer must not wait
                await session.terminate(Reason.FAILED_APPLICATION, "the receiver cannot store it")
                raise LocalFileError(f"cannot accept {file.name} into {error}") from None
            destination = Destination(
                target, safe_filename(name or file.name), overwrite, self.max_size
            )
            await self._accept(session, content, file, transfer, security, destination)
            return transfer

        async def decline(reason: Reason, text: str | None) -> None:
            await session.terminate(reason, text)

        if not self.xmpp.event_handled("jingle_file_offer"):
            await session.terminate(Reason.DECLINE, "this client does not accept files")
            return
        stop_waiting = self._answer_within(session)
        self.xmpp.event("jingle_file_offer", FileOffer(transfer, accept, decline))

    def _answer_within(self, session: Session) -> Callable[[], None]:
        """End ``session`` with ``<timeout/>`` unless the application answers its offer within
        ``answer_timeout``; returns what stops the wait once it does."""
        if self.answer_timeout is None:
            return lambda: None

        def expire() -> None:
            if not session.state.ended and session not in self._jobs:
                text = "the offer was not answered in time"
                self._jingle.spawn(session.terminate(Reason.TIMEOUT, text))

        handle = asyncio.get_running_loop().call_later(self.answer_timeout, expire)
        session.ended.add_done_callback(lambda _: handle.cancel())
        return handle.cancel

    async def _requested(
        self,
        session: Session,
        content: Content,
        wanted: FileInfo,
        security: StreamSecurity | None,
    ) -> None:
        if self._server is None:
            raise JetError("this client serves no files", reason=Reason.FAILED_APPLICATION)
        await self._adapt_to(session.peer)
        source = self._server.find(session.peer, wanted, encrypted=security is not None)
        file = describe_file(source, encrypted=security is not None)
        transfer = self._new_transfer(session, Direction.SEND, file, security)
        await self._accept(session, content, file, transfer, security, source)

    async def _accept(
        self,
        session: Session,
        content: Content,
        file: FileInfo,
        transfer: Transfer,
        security: StreamSecurity | None,
        target: Path | Destination,
    ) -> None:
        """Answer the peer's transport and start the job, which sends session-accept.

        A transport we cannot use (malformed parameters the offer only shows now) ends the
        session with ``failed-transport``, a file that cannot fit on our disk with
        ``failed-application``; either raises.
        """
        if session.state.ended:
            raise TransferError("the peer already ended the session", reason=Reason.CANCEL)
        channel = ContentChannel(session, content, isinstance(target, Path), self._methods())
        try:
            if isinstance(target, Destination):
                ensure_room(target.directory, target.name, file.size, self.free_space_margin)
            transport = await channel.answer(content.transport)
            for info in self._early.pop(session, []):
                await channel.handle_info(info.content(content.name).transport)
        except JetError as error:
            channel.close()
            failure = (
                error
                if isinstance(error, LocalFileError)
                else TransportError(f"the offered transport is unusable: {error}")
            )
            await session.terminate(failure.reason, str(failure))
            self.xmpp.event("jingle_transfer_failed", TransferFailure(transfer, failure))
            raise failure from None
        answer = Content(
            content.creator,
            content.name,
            content.senders,
            description=build_description(file),
            transport=transport,
        )
        self._run(self._new_job(session, content, channel, transfer, security, target, answer))

    async def handle_action(self, session: Session, event: JingleAction) -> None:
        """Every later action of our sessions, in arrival order."""
        job = self._jobs.get(session)
        if event.action is Action.SESSION_INFO:
            session_info(job, event)
            return
        early = self._early.get(session)
        if job is None and event.action is Action.TRANSPORT_INFO and early is not None:
            if len(early) >= MAX_EARLY_INFO:
                raise ProtocolError("too many transport-infos", condition="resource-constraint")
            early.append(event)
            return
        if job is None:
            raise ProtocolError(
                "the session is not transferring yet",
                condition="unexpected-request",
                jingle_condition="out-of-order",
            )
        if event.action is Action.SESSION_ACCEPT:
            self._session_accepted(job, event.content(job.content.name))
            return
        await dispatch(job, event)

    def _session_accepted(self, job: Job, content: Content) -> None:
        """The responder accepted; a requested file announced too large is refused at once."""
        description = content.description
        file = parse_description(description) if description is not None else None
        receiving = job.transfer.direction is Direction.RECEIVE
        refusal = self._size_refusal(file.size) if receiving and file is not None else None
        if refusal is not None:
            job.fail(TransferError(refusal, reason=Reason.MEDIA_ERROR))
            return
        if receiving and file is not None and isinstance(job.target, Destination):
            try:
                margin = self.free_space_margin
                ensure_room(job.target.directory, job.target.name, file.size, margin)
            except LocalFileError as error:
                job.fail(error)
                return
        job.accepted(content, file)

    def _size_refusal(self, size: int | None) -> str | None:
        """Why a file announced with ``size`` (``None``: unknown) is refused under ``max_size``.

        An unknown size passes only with ``accept_unknown_size``; its stream is then cut at
        ``max_size``.
        """
        if self.max_size is None:
            return None
        if size is None and not self.accept_unknown_size:
            return f"files of unknown size are refused (at most {self.max_size} bytes accepted)"
        if size is not None and size > self.max_size:
            return f"files over {self.max_size} bytes are refused"
        return None


def _reason_of(error: IqError | IqTimeout) -> JingleReason:
    return JingleReason(Reason.CONNECTIVITY_ERROR, describe(error))
