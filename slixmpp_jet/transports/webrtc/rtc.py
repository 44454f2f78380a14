"""The one module that touches aiortc: a peer connection with one data channel each way.

Each side opens its own channel (label ``test``, protocol ``xmpp-jingle``, as Conversations
does) and sends on it; the receiver reads the first channel the peer opens. Everything the rest
of the transport needs is a typed method here: SDP in and out, candidates, waiting for the
channel, sending with back-pressure, closing. Importing this module needs the ``webrtc`` extra.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidAccessError, InvalidStateError
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp

from ...errors import TransportError
from .stream import Inbox

log = logging.getLogger(__name__)

CHANNEL_LABEL = "test"
CHANNEL_PROTOCOL = "xmpp-jingle"
_CLOSING: set[asyncio.Task[None]] = set()
"""Peer connections being closed: held here so that no close is lost or left pending."""


class IceServerLike(Protocol):
    """A STUN or TURN server (``ice_servers.IceServer`` has this shape)."""

    @property
    def urls(self) -> tuple[str, ...]: ...
    @property
    def username(self) -> str | None: ...
    @property
    def credential(self) -> str | None: ...


class PeerLink:
    """One RTCPeerConnection carrying one file: ``inbox`` gets what the peer's channel brings."""

    def __init__(self, servers: Sequence[IceServerLike], relay_only: bool, inbox: Inbox) -> None:
        policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
        configuration = RTCConfiguration(
            iceServers=[
                RTCIceServer(list(server.urls), server.username, server.credential)
                for server in servers
            ],
            iceTransportPolicy=policy,
        )
        self._pc = RTCPeerConnection(configuration)
        self._inbox = inbox
        self._outgoing: RTCDataChannel | None = None
        self._incoming: RTCDataChannel | None = None
        self._changed = asyncio.Event()
        self._error: TransportError | None = None
        self._closed = False
        self._pc.on("datachannel", self._on_datachannel)
        self._pc.on("connectionstatechange", self._on_state)

    # -- negotiation ----------------------------------------------------------------------

    async def offer(self) -> str:
        """Open our channel, gather candidates; our SDP offer."""
        self._open_channel()
        await self._pc.setLocalDescription(await self._pc.createOffer())
        return self._pc.localDescription.sdp

    async def answer(self, remote_offer: str) -> str:
        """Take the peer's SDP offer (ValueError if unusable); our SDP answer."""
        await self._take(RTCSessionDescription(remote_offer, "offer"))
        self._open_channel()
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        return self._pc.localDescription.sdp

    async def take_answer(self, remote_answer: str) -> None:
        """Take the peer's SDP answer (ValueError if unusable); connecting starts."""
        await self._take(RTCSessionDescription(remote_answer, "answer"))

    async def _take(self, description: RTCSessionDescription) -> None:
        try:
            await self._pc.setRemoteDescription(description)
        except (InvalidAccessError, InvalidStateError) as error:
            raise ValueError(str(error) or type(error).__name__) from None

    async def add_candidate(self, line: str, mid: str) -> None:
        """A remote candidate as an SDP ``candidate:`` value (ValueError if unusable)."""
        candidate = candidate_from_sdp(line.removeprefix("candidate:"))
        candidate.sdpMid = mid
        try:
            await self._pc.addIceCandidate(candidate)
        except (InvalidAccessError, InvalidStateError) as error:
            raise ValueError(str(error) or type(error).__name__) from None

    def _open_channel(self) -> None:
        channel = self._pc.createDataChannel(CHANNEL_LABEL, protocol=CHANNEL_PROTOCOL)
        channel.on("open", self._changed.set)
        channel.on("bufferedamountlow", self._changed.set)
        channel.on("close", self._on_outgoing_closed)
        self._outgoing = channel

    # -- events ---------------------------------------------------------------------------

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if self._incoming is not None:
            return  # one stream per file: a second channel carries nothing we read
        self._incoming = channel
        channel.on("message", self._on_message)
        channel.on("close", self._inbox.end)
        self._changed.set()

    def _on_message(self, message: bytes | str) -> None:
        self._inbox.put(message.encode() if isinstance(message, str) else message)

    def _on_outgoing_closed(self) -> None:
        self._fail("the data channel was closed")

    def _on_state(self) -> None:
        state = self._pc.connectionState
        if state in ("failed", "closed"):
            self._fail(f"the peer connection {state}")

    def _fail(self, why: str) -> None:
        if self._error is None:
            self._error = TransportError(why)
        self._inbox.fail(self._error)
        self._changed.set()

    async def _until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            if self._error is not None:
                raise self._error
            self._changed.clear()
            await self._changed.wait()

    # -- the stream -----------------------------------------------------------------------

    async def wait_open(self, sending: bool) -> None:
        """Until our channel is open (sender) or the peer's has arrived (receiver)."""
        if sending:
            await self._until(lambda: self._channel_state() == "open")
        else:
            await self._until(lambda: self._incoming is not None)

    def _channel_state(self) -> str:
        return self._outgoing.readyState if self._outgoing is not None else "new"

    async def send(self, message: bytes, high_water: int) -> None:
        """Queue ``message`` once no more than ``high_water`` bytes wait to go out."""
        channel = self._outgoing
        assert channel is not None, "wait_open() first"
        channel.bufferedAmountLowThreshold = high_water
        await self._until(lambda: channel.bufferedAmount <= high_water)
        if channel.readyState != "open":
            raise self._error or TransportError("the data channel is not open")
        channel.send(message)

    async def drain(self) -> None:
        """Until everything queued was handed to SCTP."""
        channel = self._outgoing
        assert channel is not None, "wait_open() first"
        channel.bufferedAmountLowThreshold = 0
        await self._until(lambda: channel.bufferedAmount == 0)

    # -- the end --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the peer connection (in the background, held in ``_CLOSING``). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._fail("the transport was closed")
        task = asyncio.ensure_future(self._pc.close())
        _CLOSING.add(task)
        task.add_done_callback(_closed)


def _closed(task: asyncio.Task[None]) -> None:
    _CLOSING.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.debug("closing a peer connection failed: %r", task.exception())
