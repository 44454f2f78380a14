"""One XEP-0260 transport: our offer, the peer's, and the negotiation down to one stream.

The flow (XEP-0260 §2.3-2.4): connect to the peer's candidates, best first; report the one
that worked (``candidate-used``) or that none did (``candidate-error``); wait for the peer's
report; :func:`~.nomination.nominate`; if a proxy won, its offerer activates it and says so
(``activated``). Notices from the peer may arrive at any time, even before
:meth:`S5BSession.establish` runs: they are kept until needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar
from xml.etree import ElementTree as ET

from slixmpp.exceptions import IqError, IqTimeout

from ...errors import ProtocolError, Reason, TransportError
from ..base import TransportContext, TransportSession
from . import socks5, wire
from .candidates import Candidate, CandidateType, dstaddr, new_id
from .gathering import gather
from .listener import DirectListener
from .nomination import NoCandidate, Report, UsedCandidate, nominate, worth_trying
from .proxy import StreamHost
from .socks5 import Connection
from .stream import SocketSink, SocketSource

log = logging.getLogger(__name__)

STAGGER = 0.2
"""Seconds between starting connection attempts to successive candidates (XEP-0260 §4)."""

Activate = Callable[[str, str, str], Awaitable[None]]
"""``activate(proxy_jid, sid, target_jid)``: the XEP-0065 activation IQ; raises TransportError."""


@dataclass(frozen=True)
class Settings:
    """The parts of the plugin configuration a session needs."""

    connect_timeout: float = 5.0
    """Seconds for one SOCKS5 connection, handshake included."""
    negotiation_timeout: float = 30.0
    """Seconds for all of :meth:`S5BSession.establish`."""
    use_peer_candidates: bool = True
    """Whether we connect to the peer's candidates (off: we report ``candidate-error`` at once,
    so that, with no candidates of our own either, the peer falls back to another transport)."""


class S5BSession(TransportSession):
    """A SOCKS5 bytestream for one Jingle content; create it with :meth:`create`."""

    namespace: ClassVar[str] = wire.NS

    def __init__(
        self,
        context: TransportContext,
        sid: str,
        candidates: Sequence[Candidate],
        listener: DirectListener,
        remote: wire.Offer | None,
        settings: Settings,
        activate: Activate,
    ) -> None:
        self._context = context
        self._sid = sid
        self._dstaddr = dstaddr(sid, context.local_jid, context.peer_jid)
        self._local = {candidate.cid: candidate for candidate in candidates}
        self._listener = listener
        self._remote = remote
        self._settings = settings
        self._activate = activate
        self._remote_report: Report | None = None
        self._activated: str | None = None
        self._proxy_failed_at_peer = False
        self._news = asyncio.Event()
        self._attempts: dict[Candidate, asyncio.Task[Connection | None]] = {}
        self._outgoing: Connection | None = None
        self._establishing: asyncio.Task[object] | None = None
        self._nominated: Candidate | None = None
        self._closed = False

    @classmethod
    async def create(
        cls,
        context: TransportContext,
        remote: ET.Element | None,
        settings: Settings,
        *,
        addresses: Sequence[str],
        port_range: tuple[int, int] | None,
        proxies: Sequence[StreamHost],
        activate: Activate,
    ) -> S5BSession:
        """Listen on ``addresses``, list our candidates and build the session.

        With ``remote`` (the peer's offer) we answer it: same sid, none of its endpoints.
        """
        offer = wire.parse_offer(remote) if remote is not None else None
        sid = offer.sid if offer is not None else new_id()
        initiator, responder = context.local_jid, context.peer_jid
        if not context.initiator:
            initiator, responder = responder, initiator
        accepted = {
            dstaddr(sid, context.local_jid, context.peer_jid),
            dstaddr(sid, initiator, responder),  # Conversations 2.8-2.10 for direct candidates
        }
        listener = DirectListener(accepted, settings.connect_timeout)
        try:
            candidates = await gather(
                listener,
                owner=context.local_jid,
                addresses=addresses,
                port_range=port_range,
                proxies=proxies,
                taken={c.endpoint for c in offer.candidates} if offer is not None else set(),
            )
        except BaseException:
            listener.close()
            raise
        return cls(context, sid, candidates, listener, offer, settings, activate)

    @property
    def sid(self) -> str:
        """The bytestream sid (not the Jingle sid)."""
        return self._sid

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        """The candidates we offer."""
        return tuple(self._local.values())

    @property
    def nominated(self) -> Candidate | None:
        """The candidate that carries the stream, once :meth:`establish` returned it."""
        return self._nominated

    def description(self) -> ET.Element:
        return wire.build_offer(wire.Offer(self._sid, self._dstaddr, self.candidates))

    def accept_remote(self, transport: ET.Element) -> None:
        offer = wire.parse_offer(transport)
        if offer.sid != self._sid:
            raise ProtocolError(f"SOCKS5 sid {offer.sid!r} does not match ours, {self._sid!r}")
        if self._remote is not None and offer != self._remote:
            raise ProtocolError("the peer's SOCKS5 candidates are already known")
        self._remote = offer

    async def handle_info(self, transport: ET.Element) -> None:
        sid, notice = wire.parse_notice(transport)
        if sid != self._sid:
            raise ProtocolError(f"transport-info for SOCKS5 sid {sid!r}, ours is {self._sid!r}")
        if isinstance(notice, wire.CandidateUsed | wire.CandidateError):
            self._take_report(notice)
        elif isinstance(notice, wire.Activated):
            if self._activated is not None:
                raise _out_of_order("the peer already sent <activated/>")
            self._activated = notice.cid
        else:
            self._proxy_failed_at_peer = True
        self._news.set()

    async def establish(self) -> SocketSink | SocketSource:
        if self._remote is None:
            raise TransportError("the peer's SOCKS5 candidates are not known yet")
        if self._establishing is not None or self._closed:
            raise TransportError("this SOCKS5 transport was already used")
        self._establishing = asyncio.current_task()
        timeout = self._settings.negotiation_timeout
        try:
            async with asyncio.timeout(timeout):
                connection = await self._negotiate(self._remote)
        except TimeoutError:
            raise TransportError(
                f"SOCKS5 negotiation did not finish within {timeout:g} s", reason=Reason.TIMEOUT
            ) from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._closed and task is not None and task.uncancel() == 0:
                raise TransportError("the SOCKS5 transport was closed while negotiating") from None
            raise
        finally:
            self._release()
        return SocketSink(connection) if self._context.sending else SocketSource(connection)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._establishing is not None and not self._establishing.done():
            self._establishing.cancel()
        self._release()

    # --- negotiation -----------------------------------------------------------------------

    async def _negotiate(self, remote: wire.Offer) -> Connection:
        report = await self._connect_to_peer(remote)
        self._discard_attempts()
        if isinstance(report, UsedCandidate):
            await self._send(wire.CandidateUsed(report.cid))
        else:
            await self._send(wire.CandidateError())
        remote_report = await self._peer_report()
        nominated = nominate(report, remote_report, initiator=self._context.initiator)
        if nominated is None:
            raise TransportError(
                "neither party could connect to a SOCKS5 candidate of the other",
                reason=Reason.CONNECTIVITY_ERROR,
            )
        if nominated.ours:
            candidate = self._local[nominated.cid]
            connection = await self._use_our_candidate(candidate)
        else:
            candidate = next(c for c in remote.candidates if c.cid == nominated.cid)
            connection = await self._use_peer_candidate(candidate)
        log.debug("SOCKS5 %s: using %s", self._sid, candidate)
        self._nominated = candidate
        return connection

    async def _connect_to_peer(self, remote: wire.Offer) -> Report:
        """Try the peer's candidates, best first; keep the best connection that works."""
        if not self._settings.use_peer_candidates:
            return NoCandidate()
        own = {c.endpoint for c in self._local.values() if c.type is not CandidateType.PROXY}
        targets = sorted(
            (c for c in remote.candidates if c.endpoint not in own),  # never ourselves
            key=lambda candidate: candidate.priority,
            reverse=True,
        )
        peer, local = self._context.peer_jid, self._context.local_jid
        address = remote.dstaddr or dstaddr(self._sid, peer, local)
        self._attempts = {
            candidate: asyncio.create_task(self._attempt(candidate, address, rank * STAGGER))
            for rank, candidate in enumerate(targets)
        }
        self._stop_hopeless_attempts()
        for candidate in targets:
            attempt = self._attempts[candidate]
            await asyncio.wait([attempt])
            if attempt.cancelled() or attempt.exception() is not None:
                continue
            connection = attempt.result()
            if connection is not None:
                del self._attempts[candidate]
                self._outgoing = connection
                return UsedCandidate(candidate.cid, candidate.priority)
        return NoCandidate()

    async def _attempt(self, candidate: Candidate, address: str, delay: float) -> Connection | None:
        await asyncio.sleep(delay)
        try:
            return await socks5.connect(
                candidate.host, candidate.port, address, self._settings.connect_timeout
            )
        except TransportError as error:
            log.debug("SOCKS5 candidate %s failed: %s", candidate.cid, error)
            return None

    async def _use_peer_candidate(self, candidate: Candidate) -> Connection:
        """The peer's candidate won: our connection to it; for a proxy, once it is activated."""
        if candidate.type is CandidateType.PROXY:
            await self._until(lambda: self._activated is not None or self._proxy_failed_at_peer)
            if self._proxy_failed_at_peer:
                raise TransportError(
                    f"the peer could not use its proxy {candidate.jid}",
                    reason=Reason.CONNECTIVITY_ERROR,
                )
            if self._activated != candidate.cid:
                raise TransportError(
                    f"the peer activated candidate {self._activated!r}, "
                    f"but {candidate.cid!r} was nominated"
                )
        connection, self._outgoing = self._outgoing, None
        assert connection is not None
        return connection

    async def _use_our_candidate(self, candidate: Candidate) -> Connection:
        """Our candidate won: the peer's connection to our listener, or our proxy, activated."""
        if candidate.type is CandidateType.PROXY:
            return await self._activate_proxy(candidate)
        connection = self._listener.claim(candidate.endpoint)
        if connection is None:
            raise TransportError(
                f"the peer reported connecting to our candidate {candidate.cid!r}, "
                "but no such SOCKS5 connection arrived"
            )
        return connection

    async def _activate_proxy(self, candidate: Candidate) -> Connection:
        """Connect to our nominated proxy, activate the bytestream and tell the peer."""
        connection: Connection | None = None
        try:
            connection = await socks5.connect(
                candidate.host, candidate.port, self._dstaddr, self._settings.connect_timeout
            )
            await self._activate(candidate.jid, self._sid, self._context.peer_jid)
        except TransportError as error:
            if connection is not None:
                connection.abort()
            await self._send_quietly(wire.ProxyError())
            raise TransportError(
                f"our proxy {candidate.jid} is unusable: {error}", reason=Reason.CONNECTIVITY_ERROR
            ) from error
        try:
            await self._send(wire.Activated(candidate.cid))
        except BaseException:
            connection.abort()
            raise
        return connection

    # --- helpers ---------------------------------------------------------------------------

    def _take_report(self, notice: wire.CandidateUsed | wire.CandidateError) -> None:
        if self._remote_report is not None:
            raise _out_of_order("the peer already reported its SOCKS5 candidate")
        if isinstance(notice, wire.CandidateError):
            self._remote_report = NoCandidate()
        else:
            candidate = self._local.get(notice.cid)
            if candidate is None:
                raise ProtocolError(
                    f"candidate-used names {notice.cid!r}, which we never offered",
                    condition="item-not-found",
                )
            self._remote_report = UsedCandidate(candidate.cid, candidate.priority)
        self._stop_hopeless_attempts()

    def _stop_hopeless_attempts(self) -> None:
        """Cancel attempts that could no longer beat the candidate the peer reported (§2.3)."""
        for candidate, attempt in self._attempts.items():
            if not worth_trying(
                candidate.priority, self._remote_report, initiator=self._context.initiator
            ):
                attempt.cancel()

    async def _peer_report(self) -> Report:
        while self._remote_report is None:
            self._news.clear()
            await self._news.wait()
        return self._remote_report

    async def _until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            self._news.clear()
            await self._news.wait()

    async def _send(self, notice: wire.Notice) -> None:
        what = f"our SOCKS5 <{wire.notice_tag(notice)}/>"
        try:
            await self._context.send_transport_info(wire.build_notice(self._sid, notice))
        except IqTimeout as error:
            raise TransportError(f"the peer did not acknowledge {what}") from error
        except IqError as error:
            raise TransportError(f"the peer refused {what}: {error.condition}") from error

    async def _send_quietly(self, notice: wire.Notice) -> None:
        """Tell the peer of a failure we are about to raise anyway."""
        try:
            await self._send(notice)
        except TransportError as error:
            log.debug("SOCKS5 %s: %s", self._sid, error)

    def _discard_attempts(self) -> None:
        for attempt in self._attempts.values():
            attempt.cancel()
            attempt.add_done_callback(_abort_connection)
        self._attempts = {}

    def _release(self) -> None:
        """Close everything that did not become the stream."""
        self._discard_attempts()
        self._listener.close()
        if self._outgoing is not None:
            self._outgoing.abort()
            self._outgoing = None


def _abort_connection(attempt: asyncio.Task[Connection | None]) -> None:
    if not attempt.cancelled() and attempt.exception() is None:
        connection = attempt.result()
        if connection is not None:
            connection.abort()


def _out_of_order(message: str) -> ProtocolError:
    return ProtocolError(message, condition="unexpected-request", jingle_condition="out-of-order")
