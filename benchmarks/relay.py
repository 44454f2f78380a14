"""The ceiling for in-band bytes: IBB-shaped IQs relayed by the server between two raw sockets.

``python -m benchmarks.relay receive --jid J --password P --port C`` prints ``{"ready": jid}``,
answers every ``<iq type='set'>`` with an empty result and prints ``{"seconds": ...,
"bytes": ...}`` when the ``<close/>`` IQ arrives; ``... send --jid J --password P --port C --to
RECEIVER --mib M --block B --window W`` sends ``<data/>`` IQs of a ``B``-byte block (the same
Base64 text each time) with ``W`` unanswered at most, then ``<close/>``.

No XML library, no stanza objects, no file: this is what the server itself allows, the
number a client library can approach but not pass.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import socket
import time
import uuid
from xml.sax.saxutils import quoteattr

NS_IBB = "http://jabber.org/protocol/ibb"
_TAG = re.compile(rb"<iq\b[^>]*>")
_ID = re.compile(rb"""\bid=(?:'([^']*)'|"([^"]*)")""")
_FROM = re.compile(rb"""\bfrom=(?:'([^']*)'|"([^"]*)")""")
_SID = "relay"
QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class RawClient:
    """One c2s stream on a plain socket: SASL PLAIN, bind, then raw text in and out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.jid = ""

    @classmethod
    async def login(cls, jid: str, password: str, port: int) -> RawClient:
        user_domain, _, resource = jid.partition("/")
        user, _, domain = user_domain.partition("@")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        await client._open(domain, b"</stream:features>")
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        client.send(
            f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>"
        )
        if b"<success" not in await client._until(b"<success", b"<failure"):
            raise RuntimeError("SASL PLAIN failed")
        await client._open(domain, b"</stream:features>")
        client.send(
            "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            f"<resource>{resource}</resource></bind></iq>"
        )
        bound = await client._until(b"</iq>")
        client.jid = re.search(rb"<jid>([^<]+)</jid>", bound).group(1).decode()  # type: ignore[union-attr]
        return client

    def send(self, text: str) -> None:
        self.writer.write(text.encode())

    async def read(self, size: int) -> bytes:
        """The next bytes from the server, acknowledged at once (see ``slixmpp_jet.quickack``)."""
        data = await self.reader.read(size)
        if not data:
            raise RuntimeError("the server closed the stream")
        if QUICKACK is not None:
            self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        return data

    async def _open(self, domain: str, end: bytes) -> None:
        self.send(
            f"<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' "
            "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        )
        await self._until(end)

    async def _until(self, *ends: bytes) -> bytes:
        seen = b""
        while not any(end in seen for end in ends):
            data = await self.reader.read(65536)
            if not data:
                raise RuntimeError(f"the server closed the stream: {seen[-500:]!r}")
            seen += data
        return seen


async def receive(options: argparse.Namespace) -> None:
    client = await RawClient.login(options.jid, options.password, options.port)
    print(json.dumps({"ready": client.jid}), flush=True)
    start: float | None = None
    received = 0
    pending = b""
    while True:
        data = await client.read(256 * 1024)
        start = start or time.perf_counter()
        received += len(data)
        pending += data
        cut = pending.rfind(b"</iq>")
        if cut < 0:
            continue
        complete, pending = pending[: cut + 5], pending[cut + 5 :]
        replies = []
        for tag in _TAG.finditer(complete):
            head = tag.group()
            ident, sender = _attribute(_ID, head), _attribute(_FROM, head)
            replies.append(f"<iq type='result' id={quoteattr(ident)} to={quoteattr(sender)}/>")
        client.send("".join(replies))
        if b"<close " in complete:
            break
    await client.writer.drain()
    print(
        json.dumps({"seconds": time.perf_counter() - (start or 0), "bytes": received}), flush=True
    )
    client.writer.close()


def _attribute(pattern: re.Pattern[bytes], head: bytes) -> str:
    found = pattern.search(head)
    if found is None:
        raise RuntimeError(f"no attribute in {head!r}")
    return (found.group(1) or found.group(2)).decode()


async def send(options: argparse.Namespace) -> None:
    client = await RawClient.login(options.jid, options.password, options.port)
    print(json.dumps({"ready": client.jid}), flush=True)
    text = base64.b64encode(os.urandom(options.block)).decode()
    blocks = int(options.mib * 1024 * 1024) // options.block
    prefix = uuid.uuid4().hex[:8]
    to = quoteattr(options.to)
    in_flight, answered = 0, 0
    pending = b""
    start = time.perf_counter()
    for seq in range(blocks + 1):
        while in_flight >= options.window:
            data = await client.read(65536)
            pending += data
            cut = pending.rfind(b">") + 1
            whole, pending = pending[:cut], pending[cut:]
            acks = whole.count(b"type='result'") + whole.count(b'type="result"')
            in_flight -= acks
            answered += acks
        payload = (
            f"<data xmlns='{NS_IBB}' seq='{seq % 65536}' sid='{_SID}'>{text}</data>"
            if seq < blocks
            else f"<close xmlns='{NS_IBB}' sid='{_SID}'/>"
        )
        client.send(f"<iq type='set' id='{prefix}{seq}' to={to}>{payload}</iq>")
        in_flight += 1
        await client.writer.drain()
    print(json.dumps({"sent_seconds": time.perf_counter() - start}), flush=True)
    await asyncio.sleep(0.5)
    client.writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["send", "receive"])
    parser.add_argument("--jid", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--to")
    parser.add_argument("--mib", type=float, default=16)
    parser.add_argument("--block", type=int, help="block size in bytes (send)")
    parser.add_argument("--window", type=int, default=16)
    options = parser.parse_args()
    if options.role == "send" and (options.to is None or options.block is None):
        parser.error("send needs --to and --block")
    asyncio.run(send(options) if options.role == "send" else receive(options))


if __name__ == "__main__":
    main()
