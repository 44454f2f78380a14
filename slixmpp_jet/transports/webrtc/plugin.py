"""The ``jingle_webrtc_datachannel`` plugin: the WebRTC data channel as a transport method.

Configuration:

``ice_servers`` (())
    fixed STUN/TURN servers (:class:`~.ice_servers.IceServer`).
``discover_ice_servers`` (False)
    also ask our XMPP server for STUN/TURN (XEP-0215), with short-lived credentials, for
    every transport.
``relay_only`` (False)
    connect through a TURN relay only; our addresses never reach the peer.
``connect_timeout`` (20.0)
    seconds for ICE, DTLS and SCTP until the channel is open.

The feature is advertised only when aiortc (the ``webrtc`` extra) imports.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, ClassVar
from xml.etree import ElementTree as ET

from slixmpp import JID
from slixmpp.plugins import BasePlugin

from ...errors import TransportError
from ..base import TransportContext, TransportSession
from ..caps import refresh_caps
from .ice_servers import discover_ice_servers
from .stanza import NS


@functools.cache
def aiortc_available() -> bool:
    """Whether aiortc (the ``webrtc`` extra) is installed and imports (asked once)."""
    try:
        import aiortc  # noqa: F401
    except (ImportError, OSError):  # OSError: a native library it needs is missing
        return False
    return True


class JingleWebRTCDataChannel(BasePlugin):
    """Creates :class:`~.session.DataChannelSession` transports for Jingle contents."""

    name = "jingle_webrtc_datachannel"
    description = "Jingle WebRTC data-channel transport (Conversations' webrtc-datachannel:1)"
    dependencies: ClassVar[set[str]] = {"xep_0030"}
    default_config: ClassVar[dict[str, Any]] = {
        "ice_servers": (),
        "discover_ice_servers": False,
        "relay_only": False,
        "connect_timeout": 20.0,
    }
    namespace = NS
    preference = 200
    _caps_update: asyncio.Future[object] | None = None

    @property
    def available(self) -> bool:
        """Whether this transport can work here (aiortc imports)."""
        return aiortc_available()

    def plugin_end(self) -> None:
        self.xmpp.plugin["xep_0030"].del_feature(feature=NS)

    def session_bind(self, jid: JID) -> None:
        if not self.available:
            return
        self.xmpp.plugin["xep_0030"].add_feature(NS)
        self._caps_update = refresh_caps(self.xmpp, jid)

    async def create_session(
        self, context: TransportContext, remote: ET.Element | None = None
    ) -> TransportSession:
        """A data-channel transport for one content; ``remote`` is the peer's offer we answer."""
        if not self.available:
            raise TransportError("the data channel needs aiortc: pip install slixmpp-jet[webrtc]")
        from .session import DataChannelSession, Settings  # needs aiortc

        servers = list(self.ice_servers)
        if self.discover_ice_servers:
            servers += await discover_ice_servers(self.xmpp)
        settings = Settings(float(self.connect_timeout), bool(self.relay_only))
        return await DataChannelSession.create(context, remote, settings, servers)
