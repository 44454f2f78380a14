"""One data-channel transport: SDP offer/answer through Jingle, candidates, the open channel.

Whoever creates the transport without the peer's element (the initiator, or whoever proposes
it in a transport-replace) makes the SDP offer; the other answers. Our candidates go out in one
transport-info once the peer acknowledged our description (as Conversations does: after
session-initiate or session-accept, or transport-replace or transport-accept). The peer's
arrive in its element or in transport-infos, at any time, and are kept until its description
has been taken.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar
from xml.etree import ElementTree as ET

from slixmpp.exceptions import IqError, IqTimeout

from ...errors import JetError, ProtocolError, TransportError
from ..base import ByteSink, ByteSource, TransportContext, TransportSession
from .rtc import IceServerLike, PeerLink
from .sdp import (
    DEFAULT_MAX_MESSAGE_SIZE,
    LocalDescription,
    candidate_to_sdp,
    local_transport,
    remote_sdp,
    with_ids,
)
from .stanza import (
    NS,
    Candidate,
    DataChannelTransport,
    build_transport,
    parse_transport,
    require_complete,
)
from .stream import DataChannelSink, DataChannelSource, Inbox

log = logging.getLogger(__name__)

MAX_REMOTE_CANDIDATES = 128
"""The most candidates a peer may send us for one transport."""


@dataclass(frozen=True)
class Settings:
    """The parts of the plugin configuration a session needs."""

    connect_timeout: float = 20.0
    """Seconds from :meth:`DataChannelSession.establish` until the channel is open."""
    relay_only: bool = False
    """Use TURN relay candidates only (no host or server-reflexive ones)."""


class DataChannelSession(TransportSession):
    """A WebRTC data channel for one Jingle content; create it with :meth:`create`."""

    namespace: ClassVar[str] = NS

    def __init__(
        self,
        context: TransportContext,
        link: PeerLink,
        inbox: Inbox,
        local: LocalDescription,
        settings: Settings,
        remote: DataChannelTransport | None,
    ) -> None:
        self._context = context
        self._link = link
        self._inbox = inbox
        self._local = local
        self._settings = settings
        self._remote = remote
        self._answered = remote is not None
        """Whether the peer's description is in the peer connection."""
        self._pending: list[Candidate] = list(remote.candidates) if remote is not None else []
        self._received = len(self._pending)
        self._announcing = asyncio.Lock()
        self._announced = False

    @classmethod
    async def create(
        cls,
        context: TransportContext,
        remote: ET.Element | None,
        settings: Settings,
        servers: Sequence[IceServerLike],
    ) -> DataChannelSession:
        """Gather our candidates and make our description: an answer to ``remote`` if given."""
        offer = require_complete(parse_transport(remote)) if remote is not None else None
        inbox = Inbox()
        link = PeerLink(servers, settings.relay_only, inbox)
        try:
            if offer is None:
                sdp = await link.offer()
            else:
                sdp = await link.answer(remote_sdp(offer, "0"))
            local = local_transport(sdp)
        except ValueError as error:
            link.close()
            raise ProtocolError(f"unusable data-channel offer: {error}") from None
        except BaseException:
            link.close()
            raise
        return cls(context, link, inbox, local, settings, offer)

    def description(self) -> ET.Element:
        return build_transport(self._local.transport)

    def accept_remote(self, transport: ET.Element) -> None:
        if self._remote is not None:
            raise ProtocolError("the data-channel answer came twice")
        answer = require_complete(parse_transport(transport))
        self._remote = answer
        self._keep(answer.candidates)

    async def handle_info(self, transport: ET.Element) -> None:
        info = parse_transport(transport)
        known = self._remote.ufrag if self._remote is not None else None
        if info.ufrag is not None and known is not None and info.ufrag != known:
            return  # candidates of an earlier ICE generation (Conversations drops them too)
        self._keep(info.candidates)
        if self._answered:
            await self._add_pending()

    def _keep(self, candidates: Sequence[Candidate]) -> None:
        self._received += len(candidates)
        if self._received > MAX_REMOTE_CANDIDATES:
            raise ProtocolError(f"more than {MAX_REMOTE_CANDIDATES} ICE candidates")
        self._pending.extend(candidates)

    async def establish(self) -> ByteSource | ByteSink:
        if self._remote is None:
            raise TransportError("the peer's data-channel description is missing")
        if not self._answered:
            try:
                await self._link.take_answer(remote_sdp(self._remote, self._local.mid))
            except ValueError as error:
                raise TransportError(f"unusable data-channel answer: {error}") from None
            self._answered = True
        await self._add_pending()
        await self.description_sent()
        timeout = self._settings.connect_timeout
        try:
            await asyncio.wait_for(self._link.wait_open(self._context.sending), timeout)
        except TimeoutError:
            raise TransportError(f"the data channel did not open within {timeout:g} s") from None
        if self._context.sending:
            largest = self._remote.max_message_size or DEFAULT_MAX_MESSAGE_SIZE
            return DataChannelSink(self._link, largest)
        return DataChannelSource(self._inbox, self._link)

    async def _add_pending(self) -> None:
        pending, self._pending = self._pending, []
        for candidate in pending:
            if candidate.protocol != "udp":
                continue
            try:
                await self._link.add_candidate(candidate_to_sdp(candidate), self._local.mid)
            except ValueError as error:
                raise ProtocolError(f"unusable ICE candidate: {error}") from None

    async def description_sent(self) -> None:
        """Send our candidates, once. If the peer refuses them, its own checks may still find
        us (peer-reflexive candidates): only the connect timeout decides."""
        async with self._announcing:
            if self._announced or not self._local.candidates:
                return
            self._announced = True
            transport = self._local.transport
            info = DataChannelTransport(
                ufrag=transport.ufrag,
                pwd=transport.pwd,
                sctp_port=transport.sctp_port,
                max_message_size=transport.max_message_size,
                candidates=with_ids(self._local.candidates, secrets.token_hex(4)),
            )
            try:
                await self._context.send_transport_info(build_transport(info))
            except (IqError, IqTimeout, JetError) as error:  # JetError: the session has ended
                log.info(
                    "%s: the peer did not take our ICE candidates: %s", self._context.sid, error
                )

    def close(self) -> None:
        self._link.close()
