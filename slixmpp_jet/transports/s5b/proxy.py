"""SOCKS5 proxies (XEP-0065 streamhosts): finding them once, and activating a bytestream.

Only two XEP-0065 IQs matter to Jingle: the address query (``<query/>`` get to a proxy) and
the activation (``<query sid><activate>target</activate></query>`` set, §6.3.5).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from slixmpp import JID, BaseXMPP
from slixmpp.exceptions import IqError, IqTimeout

from ...errors import TransportError

log = logging.getLogger(__name__)

BYTESTREAMS = "http://jabber.org/protocol/bytestreams"
_PORT = re.compile(r"[0-9]{1,5}")


@dataclass(frozen=True)
class StreamHost:
    """A SOCKS5 proxy: the JID that activates streams, and where to connect."""

    jid: str
    host: str
    port: int


class ProxyDirectory:
    """The proxies one client may offer, looked up once per bound JID.

    Configured entries are either a :class:`StreamHost` (used as given) or a proxy JID (its
    address asked for); with no configuration the client's server is searched via disco.
    Proxies that do not answer are left out, with a log line.
    """

    def __init__(self, xmpp: BaseXMPP) -> None:
        self._xmpp = xmpp
        self._bound_jid = ""
        self._discovered: list[StreamHost] | None = None
        self._addresses: dict[str, list[StreamHost]] = {}
        self._lock = asyncio.Lock()

    async def streamhosts(
        self, configured: Iterable[str | StreamHost] | None, timeout: float
    ) -> list[StreamHost]:
        """The usable proxies, from ``configured`` or else discovered on our server."""
        async with self._lock:
            if self._bound_jid != self._xmpp.boundjid.full:
                self._bound_jid = self._xmpp.boundjid.full
                self._discovered = None
                self._addresses.clear()
            if configured is not None:
                return await self._resolve(configured, timeout)
            if self._discovered is None:
                jids = await self._discover(timeout)
                self._discovered = await self._resolve(jids, timeout)
            return list(self._discovered)

    async def _resolve(
        self, entries: Iterable[str | StreamHost], timeout: float
    ) -> list[StreamHost]:
        found: list[StreamHost] = []
        for entry in entries:
            if isinstance(entry, StreamHost):
                found.append(entry)
                continue
            if entry not in self._addresses:
                self._addresses[entry] = await self._ask_address(entry, timeout)
            found.extend(self._addresses[entry])
        return found

    async def _discover(self, timeout: float) -> list[str]:
        """JIDs of the items of our server whose identity is proxy/bytestreams."""
        disco = self._xmpp.plugin["xep_0030"]
        try:
            items = await disco.get_items(jid=JID(self._xmpp.boundjid.domain), timeout=timeout)
        except (IqError, IqTimeout) as error:
            log.info("no SOCKS5 proxy discovery: disco#items failed (%s)", _why(error))
            return []
        jids = [str(item[0]) for item in items["disco_items"]["items"]]
        infos = await asyncio.gather(
            *(disco.get_info(jid=JID(jid), timeout=timeout) for jid in jids), return_exceptions=True
        )
        return [
            jid
            for jid, info in zip(jids, infos, strict=True)
            if not isinstance(info, BaseException)
            and any(
                identity[0] == "proxy" and identity[1] == "bytestreams"
                for identity in info["disco_info"]["identities"]
            )
        ]

    async def _ask_address(self, jid: str, timeout: float) -> list[StreamHost]:
        iq = self._xmpp.make_iq_get(ito=jid)
        iq.xml.append(ET.Element(f"{{{BYTESTREAMS}}}query"))
        try:
            result = await iq.send(timeout=timeout)
        except (IqError, IqTimeout) as error:
            log.info("SOCKS5 proxy %s left out: address query failed (%s)", jid, _why(error))
            return []
        hosts = []
        for element in result.xml.iterfind(f"{{{BYTESTREAMS}}}query/{{{BYTESTREAMS}}}streamhost"):
            host, port = element.get("host"), element.get("port", "")
            if not host or not _PORT.fullmatch(port) or not 0 < int(port) < 0x10000:
                log.info("SOCKS5 proxy %s sent an unusable streamhost %r:%r", jid, host, port)
                continue
            hosts.append(StreamHost(element.get("jid") or jid, host, int(port)))
        return hosts


async def activate(xmpp: BaseXMPP, proxy: str, sid: str, target: str, timeout: float) -> None:
    """Ask ``proxy`` to join our connection for bytestream ``sid`` to ``target``'s."""
    iq = xmpp.make_iq_set(ito=proxy)
    query = ET.SubElement(iq.xml, f"{{{BYTESTREAMS}}}query", {"sid": sid})
    ET.SubElement(query, f"{{{BYTESTREAMS}}}activate").text = target
    try:
        await iq.send(timeout=timeout)
    except (IqError, IqTimeout) as error:
        reason = _why(error)
        raise TransportError(f"proxy {proxy} did not activate the bytestream: {reason}") from error


def _why(error: IqError | IqTimeout) -> str:
    if isinstance(error, IqTimeout):
        return "no answer"
    text = error.text
    return f"{error.condition}: {text}" if text else str(error.condition)
