"""A Jingle peer written by hand: raw stanzas and raw SOCKS5, no slixmpp_jet plugin inside.

Tests use it where our own plugin cannot be made to misbehave: a sender that stalls halfway, a
requester that never reads, offers with unusable transport parameters. It acknowledges every
Jingle IQ it receives and keeps them, so a test can check what our side told it.
:class:`Accepting` is our side's application in those tests: it accepts every offer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from slixmpp import ClientXMPP, Iq
from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from slixmpp_jet.testing.clients import connect, make_client
from slixmpp_jet.testing.prosody import Account, ProsodyServer

NS_JINGLE = "urn:xmpp:jingle:1"
NS_ERRORS = "urn:xmpp:jingle:errors:1"
NS_FT = "urn:xmpp:jingle:apps:file-transfer:5"
NS_IBB_TRANSPORT = "urn:xmpp:jingle:transports:ibb:1"
NS_S5B = "urn:xmpp:jingle:transports:s5b:1"
NS_IBB = "http://jabber.org/protocol/ibb"
BLOCK_SIZE = 4096


def new_sid() -> str:
    return secrets.token_hex(8)


def ibb_transport(sid: str, block_size: str = str(BLOCK_SIZE)) -> ET.Element:
    return ET.Element(
        f"{{{NS_IBB_TRANSPORT}}}transport", {"sid": sid, "block-size": block_size, "stanza": "iq"}
    )


def s5b_transport(
    sid: str, candidates: tuple[dict[str, str], ...] = (), mode: str | None = None
) -> ET.Element:
    """``candidates``: attribute dicts (cid, host, port, jid, type, priority)."""
    transport = ET.Element(f"{{{NS_S5B}}}transport", {"sid": sid})
    if mode is not None:
        transport.set("mode", mode)
    for attributes in candidates:
        ET.SubElement(transport, f"{{{NS_S5B}}}candidate", attributes)
    return transport


def direct_candidate(jid: str, port: int, cid: str = "c1") -> dict[str, str]:
    return {
        "cid": cid,
        "host": "127.0.0.1",
        "port": str(port),
        "jid": jid,
        "type": "direct",
        "priority": "8257536",
    }


def s5b_notice(sid: str, tag: str, cid: str | None = None) -> ET.Element:
    """The ``<transport/>`` of a transport-info: ``candidate-used``, ``candidate-error``..."""
    transport = ET.Element(f"{{{NS_S5B}}}transport", {"sid": sid})
    notice = ET.SubElement(transport, f"{{{NS_S5B}}}{tag}")
    if cid is not None:
        notice.set("cid", cid)
    return transport


def jingle(action: str, sid: str, **attributes: str) -> ET.Element:
    return ET.Element(f"{{{NS_JINGLE}}}jingle", {"action": action, "sid": sid, **attributes})


def transport_info(sid: str, content_name: str, transport: ET.Element) -> ET.Element:
    element = jingle("transport-info", sid)
    content = ET.SubElement(
        element, f"{{{NS_JINGLE}}}content", {"creator": "initiator", "name": content_name}
    )
    content.append(transport)
    return element


def session_info(sid: str) -> ET.Element:
    """An empty session-info: a ping."""
    return jingle("session-info", sid)


def transport_of(action: ET.Element) -> ET.Element:
    """The ``<transport/>`` of the first content of a Jingle action."""
    transport = action.find(f"{{{NS_JINGLE}}}content/*[@sid]")
    assert transport is not None, ET.tostring(action)
    return transport


def file_content(
    transport: ET.Element, name: str, size: int | None = None, request: bool = False
) -> ET.Element:
    """A file offer (or, with ``request``, a file request) carried by ``transport``."""
    senders = "responder" if request else "initiator"
    content_name = "a-file-request" if request else "a-file-offer"
    content = ET.Element(
        f"{{{NS_JINGLE}}}content",
        {"creator": "initiator", "name": content_name, "senders": senders},
    )
    description = ET.SubElement(content, f"{{{NS_FT}}}description")
    file = ET.SubElement(description, f"{{{NS_FT}}}file")
    ET.SubElement(file, f"{{{NS_FT}}}name").text = name
    if size is not None:
        ET.SubElement(file, f"{{{NS_FT}}}size").text = str(size)
    content.append(transport)
    return content


def reason_of(terminate: ET.Element) -> str | None:
    """The condition of a session-terminate's ``<reason/>`` (e.g. ``timeout``)."""
    reason = terminate.find(f"{{{NS_JINGLE}}}reason")
    conditions = [child.tag.partition("}")[2] for child in (reason if reason is not None else [])]
    return next((condition for condition in conditions if condition != "text"), None)


def dstaddr(sid: str, requester: str, target: str) -> str:
    return hashlib.sha1((sid + requester + target).encode()).hexdigest()


class RawPeer:
    """A connected client without any Jingle plugin: the test speaks for it.

    ``ack_ibb_data=False`` leaves every IBB ``<data/>`` unanswered: a reader that never reads;
    ``ack_initiate=False`` leaves a session-initiate unanswered (every other action is acked).
    """

    def __init__(
        self, client: ClientXMPP, ack_ibb_data: bool = True, ack_initiate: bool = True
    ) -> None:
        self.client = client
        self.ack_ibb_data = ack_ibb_data
        self.ack_initiate = ack_initiate
        self.ibb_data_received = 0
        self.unanswered: list[Iq] = []
        """The session-initiates left unacknowledged (``ack_initiate=False``), for the test."""
        self._jingles: list[ET.Element] = []
        self._news = asyncio.Event()
        client.register_handler(
            Callback(
                "raw jingle",
                MatchXPath(f"{{jabber:client}}iq/{{{NS_JINGLE}}}jingle"),
                self._on_jingle,
            )
        )
        client.register_handler(
            Callback(
                "raw ibb data", MatchXPath(f"{{jabber:client}}iq/{{{NS_IBB}}}data"), self._on_data
            )
        )

    @property
    def jid(self) -> str:
        return self.client.boundjid.full

    def _on_jingle(self, iq: Iq) -> None:
        element = iq.xml.find(f"{{{NS_JINGLE}}}jingle")
        if iq["type"] != "set" or element is None:
            return
        self._jingles.append(element)
        if self.ack_initiate or element.get("action") != "session-initiate":
            iq.reply().send()
        else:
            self.unanswered.append(iq)
        self._news.set()

    def _on_data(self, iq: Iq) -> None:
        self.ibb_data_received += 1
        self._news.set()
        if self.ack_ibb_data:
            iq.reply().send()

    def accept_ibb_streams(self) -> asyncio.Event:
        """From now on acknowledge every IBB ``<open/>`` and ``<close/>`` sent to this peer;
        the event is set once an ``<open/>`` came."""
        opened = asyncio.Event()

        def accept(iq: Iq) -> None:
            iq.reply().send()
            if iq.xml.find(f"{{{NS_IBB}}}open") is not None:
                opened.set()

        for tag in ("open", "close"):
            xpath = MatchXPath(f"{{jabber:client}}iq/{{{NS_IBB}}}{tag}")
            self.client.register_handler(Callback(f"raw ibb {tag}", xpath, accept))
        return opened

    def initiated(self) -> list[ET.Element]:
        """Every session-initiate received so far, whatever its sid."""
        return [j for j in self._jingles if j.get("action") == "session-initiate"]

    def received(self, action: str, sid: str) -> list[ET.Element]:
        """The ``<jingle/>`` elements with ``action`` for ``sid`` received so far."""
        return [j for j in self._jingles if j.get("action") == action and j.get("sid") == sid]

    async def wait_for(self, action: str, sid: str, timeout: float = 30) -> ET.Element:
        """The first ``<jingle/>`` with ``action`` for ``sid``, once it arrives."""
        try:
            await self.wait_until(lambda: bool(self.received(action, sid)), timeout)
        except TimeoutError:
            seen = [j.get("action") for j in self._jingles if j.get("sid") == sid]
            raise AssertionError(
                f"no {action} for session {sid} within {timeout:g} s; received {seen}"
            ) from None
        return self.received(action, sid)[0]

    async def wait_until(self, ready: Callable[[], bool], timeout: float = 30) -> None:
        """Until ``ready()`` holds, re-checked whenever a stanza arrives."""
        async with asyncio.timeout(timeout):
            while not ready():
                self._news.clear()
                await self._news.wait()

    async def send(self, to: str, payload: ET.Element, timeout: float = 10) -> Iq:
        """An IQ-set carrying ``payload``; the answer (IqError if it is an error)."""
        iq = self.client.make_iq_set(ito=to)
        iq.xml.append(payload)
        return await iq.send(timeout=timeout)

    async def initiate(self, to: str, sid: str, content: ET.Element) -> None:
        element = jingle("session-initiate", sid, initiator=self.jid)
        element.append(content)
        await self.send(to, element)

    async def ibb_open(self, to: str, ibb_sid: str) -> None:
        await self.send(
            to,
            ET.Element(
                f"{{{NS_IBB}}}open",
                {"sid": ibb_sid, "block-size": str(BLOCK_SIZE), "stanza": "iq"},
            ),
        )

    async def ibb_send_until_refused(
        self, to: str, ibb_sid: str, blocks: int, block_size: int = BLOCK_SIZE
    ) -> int:
        """Up to ``blocks`` random blocks of ``block_size`` (what was negotiated), until the
        receiver refuses one (it closed the stream); how many it took."""
        for seq in range(blocks):
            data = ET.Element(f"{{{NS_IBB}}}data", {"sid": ibb_sid, "seq": str(seq)})
            data.text = base64.b64encode(os.urandom(block_size)).decode()
            try:
                await self.send(to, data)
            except IqError:
                return seq
        return blocks

    async def ibb_send(self, to: str, ibb_sid: str, blocks: int) -> None:
        """``blocks`` random blocks, each acknowledged before the next."""
        for seq in range(blocks):
            data = ET.Element(f"{{{NS_IBB}}}data", {"sid": ibb_sid, "seq": str(seq)})
            data.text = base64.b64encode(os.urandom(BLOCK_SIZE)).decode()
            await self.send(to, data)


async def online_pair(
    prosody: ProsodyServer, accounts: Callable[[int], list[Account]]
) -> tuple[ClientXMPP, RawPeer]:
    """Our client (``xep_0234``; SOCKS5 without the server's proxy) and a raw peer, online.

    Disconnect both (``ours`` and ``peer.client``) after the test.
    """
    ours_account, peer_account = accounts(2)
    ours = make_client(prosody, ours_account, "ours")
    ours.register_plugin("xep_0260", {"use_proxy": False})
    ours.register_plugin("xep_0234")
    peer = RawPeer(make_client(prosody, peer_account, "raw"))
    await connect(ours, prosody)
    await connect(peer.client, prosody)
    return ours, peer


class Accepting:
    """Our side's application: accepts every offer into ``directory`` and keeps, for each,
    the error it ended with (also an offer refused before the application saw it)."""

    def __init__(self, client: ClientXMPP, directory: Path) -> None:
        self.directory = directory
        self.errors: asyncio.Queue[BaseException] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        client.add_event_handler("jingle_file_offer", self._on_offer)
        client.add_event_handler(
            "jingle_offer_refused", lambda refused: self.errors.put_nowait(refused.error)
        )

    def _on_offer(self, offer: Any) -> None:
        task = asyncio.ensure_future(self._take(offer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _take(self, offer: Any) -> None:
        try:
            transfer = await offer.accept(self.directory)
            await transfer
        except Exception as error:
            self.errors.put_nowait(error)
        else:
            self.errors.put_nowait(AssertionError("the transfer completed"))

    async def failure(self, timeout: float = 30) -> BaseException:
        """How the next offer ended."""
        return await asyncio.wait_for(self.errors.get(), timeout)

    async def close(self) -> None:
        """Cancel what is still under way (a transfer that never ended)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class Socks5Candidate:
    """A direct SOCKS5 candidate the raw peer offers: answers the handshake of each connection
    and keeps it for the test (which writes to it, or not)."""

    def __init__(self) -> None:
        self.connections: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen on loopback; the port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        _, methods = await reader.readexactly(2)
        await reader.readexactly(methods)
        writer.write(b"\x05\x00")
        await reader.readexactly(3)  # VER CMD RSV
        address = await _read_address(reader)
        writer.write(b"\x05\x00\x00" + address)
        await writer.drain()
        await self.connections.put((reader, writer))

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def socks5_connect(
    host: str, port: int, address: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to a SOCKS5 candidate for DST.ADDR ``address`` (domain name form, port 0)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"\x05\x01\x00")
    if await reader.readexactly(2) != b"\x05\x00":
        raise ConnectionError("SOCKS5 greeting refused")
    encoded = address.encode()
    writer.write(b"\x05\x01\x00\x03" + bytes([len(encoded)]) + encoded + b"\x00\x00")
    reply = await reader.readexactly(3)
    if reply[1] != 0:
        raise ConnectionError(f"SOCKS5 connect refused ({reply[1]})")
    await _read_address(reader)
    return reader, writer


async def _read_address(reader: asyncio.StreamReader) -> bytes:
    """ATYP, address and port, as read (for echoing back)."""
    kind = await reader.readexactly(1)
    if kind == b"\x03":
        length = await reader.readexactly(1)
        rest = await reader.readexactly(length[0] + 2)
        return kind + length + rest
    size = {b"\x01": 4, b"\x04": 16}[kind]
    return kind + await reader.readexactly(size + 2)
