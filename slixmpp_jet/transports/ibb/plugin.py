"""The ``xep_0261`` plugin: the Jingle IBB transport method and its XEP-0047 IQ handlers.

It answers ``<open/>``, ``<data/>`` and ``<close/>`` itself, routed by (peer full JID, sid);
``<data/>`` IQs and the answers to ours come through :mod:`.shortcut`. It does not use
slixmpp's ``xep_0047`` plugin, whose data path acknowledges blocks before anyone reads them
and truncates writes. Do not enable ``xep_0047`` on the same client: both plugins would answer
the same IQs.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, cast
from xml.etree import ElementTree as ET

from slixmpp import JID, Iq
from slixmpp.plugins.base import BasePlugin
from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.handler import Callback, CoroutineCallback
from slixmpp.xmlstream.matcher import StanzaPath

from ...errors import ProtocolError
from ...stream_guard import PayloadLimits, oversize
from ..base import TransportContext
from ..caps import refresh_caps
from . import stanza
from .link import refuse
from .serialize import DataSerializer
from .session import IbbSettings, IbbTransportSession
from .shortcut import IbbShortcut
from .stanza import (
    NS_IBB,
    NS_JINGLE_IBB,
    IbbParameters,
    answer_offer,
    new_sid,
    parse_transport,
    register_stanzas,
)

RouteKey = tuple[str, str]
"""(peer full JID, IBB sid)."""

_HANDLERS = ("Jingle IBB Open", "Jingle IBB Close")

IBB_LIMITS = PayloadLimits(depth=1, elements=1, characters=128 * 1024)
"""The most an ``<open/>``, ``<data/>`` or ``<close/>`` may hold: no children (XEP-0047 defines
none), and the Base64 of the largest block (87,380 characters) with room for line breaks."""


class XEP_0261(BasePlugin):  # noqa: N801  (slixmpp's plugin naming)
    """XEP-0261 Jingle In-Band Bytestreams: the transport of last resort.

    Config: ``block_size`` we offer (2880), ``max_block_size`` we accept (65535), ``window``
    data IQs in flight (16), ``open_timeout`` (30 s), ``ack_timeout`` per data IQ (60 s),
    ``receive_buffer`` bytes held for a slow reader (256 KiB).

    We offer 2880 although we take up to 65535: every peer accepts a block no larger than
    XEP-0047's 4096, and through Prosody the fastest block is the largest whose ``<data/>`` IQ
    fits one 4096-byte read of its event loop (see :mod:`slixmpp_jet.testing.prosody`): 2880
    bytes are 3840 characters of base64, which leaves 256 bytes for the IQ around them, enough
    for two JIDs of 109 characters together. Our CLI, five rounds side by side: 2880-byte blocks
    beat 3072 (4096 characters, a few bytes more than a read) in every round, median 4.23
    against 3.56 MiB/s, with less CPU for Prosody in every round; earlier rounds against
    slixmpp's ``xep_0047`` gave 4.0 to 5.0 times it with 3072-byte blocks, 3.3 to 4.8 with 4096,
    3.2 to 3.4 with 3584, 3.5 to 4.8 with 2560; 16 in flight beat 24 and 32. What pays besides
    is little work per block (:mod:`.serialize`, :mod:`.shortcut`).
    """

    name = "xep_0261"
    description = "XEP-0261: Jingle In-Band Bytestreams Transport Method"
    dependencies: ClassVar[set[str]] = {"xep_0030"}
    default_config: ClassVar[dict[str, object]] = {
        "block_size": 2880,
        "max_block_size": 65535,
        "window": 16,
        "open_timeout": 30.0,
        "ack_timeout": 60.0,
        "receive_buffer": 256 * 1024,
    }
    stanza = stanza
    namespace = NS_JINGLE_IBB
    preference = 0
    _caps_update: asyncio.Future[object] | None = None

    def plugin_init(self) -> None:
        register_stanzas()
        self._routes: dict[RouteKey, IbbTransportSession] = {}
        self._serializer = DataSerializer(self.xmpp)
        self._serializer.install()
        self._shortcut = IbbShortcut(self.xmpp, self._on_data)
        self._shortcut.install()
        self.xmpp.register_handler(
            CoroutineCallback(_HANDLERS[0], StanzaPath("iq@type=set/ibb_open"), self._on_open)
        )
        self.xmpp.register_handler(
            Callback(_HANDLERS[1], StanzaPath("iq@type=set/ibb_close"), self._on_close)
        )

    def plugin_end(self) -> None:
        for handler in _HANDLERS:
            self.xmpp.remove_handler(handler)
        self._serializer.uninstall()
        self._shortcut.uninstall()
        for session in list(self._routes.values()):
            session.abort()
        disco = self.xmpp.plugin["xep_0030"]
        for feature in (NS_JINGLE_IBB, NS_IBB):
            disco.del_feature(feature=feature)

    def session_bind(self, jid: JID) -> None:
        self._shortcut.install()  # last again, after filters of plugins loaded since
        disco = self.xmpp.plugin["xep_0030"]
        for feature in (NS_JINGLE_IBB, NS_IBB):
            disco.add_feature(feature)
        self._caps_update = refresh_caps(self.xmpp, jid)

    async def create_session(
        self, context: TransportContext, remote: ET.Element | None = None
    ) -> IbbTransportSession:
        """A transport for one content: our offer, or (with ``remote``) our answer to the peer's.

        Raises :class:`ProtocolError` when ``remote`` is malformed, uses ``stanza='message'``
        or reuses the sid of an IBB session we already have with that peer.
        """
        settings = IbbSettings.from_config(self.config)
        peer = JID(context.peer_jid).full
        if remote is None:
            parameters = IbbParameters(self._unused_sid(peer), settings.offered_block_size)
        else:
            parameters = answer_offer(parse_transport(remote), settings.max_block_size)
            if (peer, parameters.sid) in self._routes:
                raise ProtocolError(
                    f"IBB sid {parameters.sid} is already in use with {peer}", condition="conflict"
                )
        key = (peer, parameters.sid)
        session = IbbTransportSession(
            self.xmpp,
            context,
            settings,
            parameters,
            answering=remote is not None,
            release=lambda: self._drop_route(key, session),
            shortcut=self._shortcut,
        )
        self._routes[key] = session
        return session

    def _unused_sid(self, peer: str) -> str:
        sid = new_sid()
        while (peer, sid) in self._routes:
            sid = new_sid()
        return sid

    def _drop_route(self, key: RouteKey, session: IbbTransportSession) -> None:
        if self._routes.get(key) is session:
            del self._routes[key]

    def _route(self, iq: Iq, kind: str) -> IbbTransportSession | None:
        """The session this IQ belongs to; an unknown sid or a stranger gets item-not-found.

        A payload beyond :data:`IBB_LIMITS` gets bad-request before anything of it is read.
        """
        if (why := oversize(iq[kind].xml, IBB_LIMITS)) is not None:
            refuse(iq, "bad-request", f"the IBB element is {why}")
            return None
        sid = iq[kind].xml.get("sid") or ""
        session = self._routes.get((iq["from"].full, sid))
        if session is None:
            refuse(iq, "item-not-found", f"no IBB session {sid!r} with {iq['from']}")
        return session

    async def _on_open(self, stanza: StanzaBase) -> None:
        iq = cast(Iq, stanza)
        session = self._route(iq, "ibb_open")
        if session is not None:
            await session.handle_open(iq)

    def _on_data(self, stanza: StanzaBase) -> None:
        iq = cast(Iq, stanza)
        session = self._route(iq, "ibb_data")
        if session is not None:
            session.handle_data(iq)

    def _on_close(self, stanza: StanzaBase) -> None:
        iq = cast(Iq, stanza)
        session = self._route(iq, "ibb_close")
        if session is not None:
            session.handle_close(iq)
