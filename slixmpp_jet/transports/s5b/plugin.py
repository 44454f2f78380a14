"""The ``xep_0260`` plugin: Jingle SOCKS5 Bytestreams as a transport method.

Configuration (XEP-0260 §6.1: the user decides which addresses the peer learns):

``direct`` (True)
    offer direct candidates: our own SOCKS5 listener on ``direct_addresses``.
``direct_addresses`` (None)
    the IP addresses to listen on and offer; None means this host's addresses plus loopback.
``port_range`` (None)
    ``(low, high)`` ports to listen on; None lets the system pick.
``use_proxy`` (True)
    offer SOCKS5 proxies (XEP-0065 streamhosts).
``proxies`` (None)
    proxy JIDs or :class:`~.proxy.StreamHost` values; None means those our server announces.
``connect_timeout`` (5.0)
    seconds for one SOCKS5 connection, handshake included.
``negotiation_timeout`` (30.0)
    seconds for the whole negotiation of one transport.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar
from xml.etree import ElementTree as ET

from slixmpp import JID
from slixmpp.plugins import BasePlugin

from ..base import TransportContext
from ..caps import refresh_caps
from .gathering import host_addresses
from .proxy import ProxyDirectory, activate
from .session import S5BSession, Settings
from .wire import NS


class XEP_0260(BasePlugin):  # noqa: N801  (slixmpp's plugin naming)
    """Creates :class:`~.session.S5BSession` transports for Jingle contents."""

    name = "xep_0260"
    description = "XEP-0260: Jingle SOCKS5 Bytestreams Transport Method"
    dependencies: ClassVar[set[str]] = {"xep_0030"}
    default_config: ClassVar[dict[str, Any]] = {
        "direct": True,
        "direct_addresses": None,
        "port_range": None,
        "use_proxy": True,
        "proxies": None,
        "connect_timeout": 5.0,
        "negotiation_timeout": 30.0,
        "use_peer_candidates": True,
    }
    namespace = NS
    preference = 100
    _caps_update: asyncio.Future[object] | None = None

    def plugin_init(self) -> None:
        self._proxy_directory = ProxyDirectory(self.xmpp)

    def plugin_end(self) -> None:
        self.xmpp.plugin["xep_0030"].del_feature(feature=NS)
        self._caps_update = refresh_caps(self.xmpp, self.xmpp.boundjid)

    def session_bind(self, jid: JID) -> None:
        self.xmpp.plugin["xep_0030"].add_feature(NS)
        self._caps_update = refresh_caps(self.xmpp, jid)

    async def create_session(
        self, context: TransportContext, remote: ET.Element | None = None
    ) -> S5BSession:
        """A SOCKS5 transport for one content; ``remote`` is the peer's offer we answer."""
        settings = Settings(
            float(self.connect_timeout),
            float(self.negotiation_timeout),
            bool(self.use_peer_candidates),
        )
        addresses: list[str] = []
        if self.direct:
            configured = self.direct_addresses
            addresses = list(configured) if configured is not None else await host_addresses()
        proxies = []
        if self.use_proxy:
            proxies = await self._proxy_directory.streamhosts(
                self.proxies, settings.connect_timeout
            )
        port_range = tuple(self.port_range) if self.port_range is not None else None
        return await S5BSession.create(
            context,
            remote,
            settings,
            addresses=addresses,
            port_range=port_range,
            proxies=proxies,
            activate=self._activate,
        )

    async def _activate(self, proxy: str, sid: str, target: str) -> None:
        await activate(self.xmpp, proxy, sid, target, float(self.connect_timeout))
