"""One Jingle IBB transport (XEP-0261): negotiate sid and block-size, open, hand over our end.

The Jingle initiator sends the XEP-0047 ``<open/>`` (XEP-0261 §2.2), whichever side sends the
file; the other side waits for it. An ``<open/>`` from the peer is accepted in either role, so
a peer that opens although it is not the initiator still works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from slixmpp import Iq
from slixmpp.basexmpp import BaseXMPP

from ...errors import ProtocolError, TransportError
from ..base import TransportContext, TransportSession
from .link import IbbLink, acknowledge, refuse
from .receiver import IbbReceiver
from .sender import IbbSender
from .shortcut import IbbShortcut
from .stanza import (
    MAX_BLOCK_SIZE,
    NS_JINGLE_IBB,
    IbbParameters,
    accept_answer,
    build_transport,
    check_stanza_kind,
    parse_block_size,
    parse_transport,
)


@dataclass(frozen=True)
class IbbSettings:
    """The plugin's configuration, checked once per transport session."""

    block_size: int
    """Block-size we offer (never more than ``max_block_size``)."""
    max_block_size: int
    """Largest block-size we use; a larger offer is answered with this."""
    window: int
    """Data IQs in flight when sending."""
    open_timeout: float
    """Seconds to wait for the ``<open/>`` (or its answer)."""
    ack_timeout: float
    """Seconds to wait for the answer to a ``<data/>`` or ``<close/>``."""
    receive_buffer: int
    """Received bytes held for a slow reader before acknowledgements stop."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> IbbSettings:
        """Read and check the plugin config; a nonsensical value is a ValueError."""
        settings = cls(
            block_size=int(config["block_size"]),
            max_block_size=int(config["max_block_size"]),
            window=int(config["window"]),
            open_timeout=float(config["open_timeout"]),
            ack_timeout=float(config["ack_timeout"]),
            receive_buffer=int(config["receive_buffer"]),
        )
        for size in (settings.block_size, settings.max_block_size):
            if not 1 <= size <= MAX_BLOCK_SIZE:
                raise ValueError(f"IBB block sizes must be from 1 to {MAX_BLOCK_SIZE}, not {size}")
        if settings.window < 1 or settings.receive_buffer < 1:
            raise ValueError("window and receive_buffer must be positive")
        if settings.open_timeout <= 0 or settings.ack_timeout <= 0:
            raise ValueError("open_timeout and ack_timeout must be positive")
        return settings

    @property
    def offered_block_size(self) -> int:
        """What we put in our own offer."""
        return min(self.block_size, self.max_block_size)


class IbbTransportSession(TransportSession):
    """The IBB transport of one Jingle content; the plugin routes its peer's IBB IQs here."""

    namespace = NS_JINGLE_IBB

    def __init__(
        self,
        xmpp: BaseXMPP,
        context: TransportContext,
        settings: IbbSettings,
        parameters: IbbParameters,
        *,
        answering: bool,
        release: Callable[[], None],
        shortcut: IbbShortcut | None = None,
    ) -> None:
        self._context = context
        self._settings = settings
        self._link = IbbLink(
            xmpp, context.local_jid, context.peer_jid, parameters.sid, release, shortcut
        )
        self._ours = parameters
        self._agreed: IbbParameters | None = parameters if answering else None
        self._agreement = asyncio.Event()
        if answering:
            self._agreement.set()
        self._stream: IbbSender | IbbReceiver | None = None
        self._opened = asyncio.Event()
        self._handed_over = False
        self._closed = False

    @property
    def sid(self) -> str:
        """The IBB session id (not the Jingle sid)."""
        return self._ours.sid

    @property
    def block_size(self) -> int:
        """The block-size in force: the agreed one, or our offer until the peer answers."""
        return (self._agreed or self._ours).block_size

    def description(self) -> ET.Element:
        """``<transport block-size sid stanza='iq'/>``: our offer, or our answer to the peer's."""
        return build_transport(self._agreed or self._ours)

    def accept_remote(self, transport: ET.Element) -> None:
        """Take the peer's ``<transport/>``: same sid, and the smaller block-size wins."""
        agreed = accept_answer(self._agreed or self._ours, parse_transport(transport))
        if self._stream is not None and agreed != self._agreed:
            raise ProtocolError(
                f"IBB stream {self.sid} is already open with block-size {self.block_size}",
                condition="unexpected-request",
            )
        self._agreed = agreed
        self._agreement.set()

    async def handle_info(self, transport: ET.Element) -> None:
        """IBB needs no transport-info; extra IBB sessions (XEP-0261 §2.4) are not supported."""
        raise ProtocolError(
            "IBB transport-info is not supported",
            condition="feature-not-implemented",
            jingle_condition="unsupported-info",
        )

    async def establish(self) -> IbbSender | IbbReceiver:
        """Open the IBB session (as Jingle initiator) or wait for the peer to open it."""
        if self._closed or self._handed_over:
            raise TransportError(f"IBB transport {self.sid} was already used or closed")
        if self._agreed is None:
            raise TransportError(f"IBB transport {self.sid}: the peer's transport is not known")
        if self._context.initiator and not self._opened.is_set():
            await self._open()
        else:
            await self._wait_for_open()
        if self._closed or self._stream is None:
            raise TransportError(f"IBB transport {self.sid} was closed while opening")
        self._handed_over = True
        return self._stream

    def close(self) -> None:
        """Drop the route and any stream that establish() has not handed out."""
        if self._handed_over or self._closed:
            return
        self._closed = True
        if self._stream is not None:
            self._stream.abort()
        self._link.release()
        self._opened.set()
        self._agreement.set()

    def abort(self) -> None:
        """Tear everything down, including a stream already handed out (plugin shutdown)."""
        if self._handed_over and self._stream is not None:
            self._stream.abort()
        self.close()

    async def handle_open(self, iq: Iq) -> None:
        """The peer's ``<open/>``: its block-size must be the negotiated one."""
        element = iq["ibb_open"].xml
        try:
            check_stanza_kind(element.get("stanza"))
            block_size = parse_block_size(element.get("block-size"))
        except ProtocolError as error:
            refuse(iq, error.condition, str(error))
            return
        try:
            await asyncio.wait_for(self._agreement.wait(), self._settings.open_timeout)
        except TimeoutError:
            refuse(iq, "not-acceptable", f"IBB transport {self.sid} was never agreed in Jingle")
            return
        if self._closed:
            refuse(iq, "item-not-found", f"IBB transport {self.sid} is closed")
        elif block_size != self.block_size:
            refuse(
                iq,
                "resource-constraint",
                f"block-size {block_size} differs from the negotiated {self.block_size}",
            )
        else:
            self._start_stream()
            acknowledge(iq)
            self._opened.set()

    def handle_data(self, iq: Iq) -> None:
        """A ``<data/>`` for this sid from the peer; only valid once the stream is open."""
        if self._stream is None:
            refuse(iq, "item-not-found", f"IBB stream {self.sid} is not open")
        else:
            self._stream.on_data(iq)

    def handle_close(self, iq: Iq) -> None:
        """A ``<close/>`` for this sid from the peer."""
        if self._stream is None:
            refuse(iq, "item-not-found", f"IBB stream {self.sid} is not open")
        else:
            self._stream.on_close(iq)

    async def _open(self) -> None:
        # The stream exists before the <open/> leaves: the peer may send data the moment it
        # answers, before this coroutine resumes.
        self._start_stream()
        try:
            await self._link.request(
                self._link.open_iq(self.block_size), self._settings.open_timeout, "the open"
            )
        except TransportError:
            if not self._opened.is_set():
                self.close()
                raise
        self._opened.set()

    async def _wait_for_open(self) -> None:
        try:
            await asyncio.wait_for(self._opened.wait(), self._settings.open_timeout)
        except TimeoutError:
            self.close()
            raise TransportError(
                f"{self._context.peer_jid} did not open IBB stream {self.sid} "
                f"within {self._settings.open_timeout} s"
            ) from None

    def _start_stream(self) -> None:
        if self._stream is not None:
            return
        settings = self._settings
        if self._context.sending:
            self._stream = IbbSender(
                self._link, self.block_size, settings.window, settings.ack_timeout
            )
        else:
            self._stream = IbbReceiver(
                self._link, self.block_size, settings.receive_buffer, settings.ack_timeout
            )
