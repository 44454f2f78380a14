"""ICE servers from Prosody's ``mod_turn_external`` (XEP-0215), checked on a real coturn.

The TURN credentials Prosody hands out must open an allocation on the coturn that shares its
secret (a minimal RFC 5766 Allocate written here, long-term credentials), a wrong password
must get 401, and aioice (what aiortc uses) must relay data through it to a loopback peer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
import slixmpp

from slixmpp_jet.testing.clients import connect, disconnect, make_client
from slixmpp_jet.testing.prosody import ProsodyServer
from slixmpp_jet.testing.turn import STUN_MAGIC_COOKIE, TurnServer
from slixmpp_jet.transports.webrtc.ice_servers import (
    ExternalService,
    IceServer,
    ServiceType,
    ask_server,
    credentials_request,
    discover_ice_servers,
)

pytestmark = [pytest.mark.xmpp]

_ALLOCATE, _ALLOCATE_SUCCESS, _ALLOCATE_ERROR = 0x0003, 0x0103, 0x0113
_USERNAME, _MESSAGE_INTEGRITY, _ERROR_CODE = 0x0006, 0x0008, 0x0009
_REALM, _NONCE, _XOR_RELAYED_ADDRESS, _REQUESTED_TRANSPORT = 0x0014, 0x0015, 0x0016, 0x0019


@pytest.fixture(scope="module")
def turn() -> Iterator[TurnServer]:
    with TurnServer() as server:
        yield server


@pytest.fixture(scope="module")
def turn_prosody(turn: TurnServer) -> Iterator[ProsodyServer]:
    with ProsodyServer(turn=turn.announcement) as server:
        yield server


async def _online(server: ProsodyServer) -> slixmpp.ClientXMPP:
    client = make_client(server, server.register())
    await connect(client, server)
    return client


@pytest_asyncio.fixture
async def client(turn_prosody: ProsodyServer) -> AsyncIterator[slixmpp.ClientXMPP]:
    online = await _online(turn_prosody)
    yield online
    await disconnect(online)


def _turn_udp(servers: list[IceServer]) -> IceServer:
    return next(server for server in servers if server.urls[0].endswith("?transport=udp"))


@pytest.mark.asyncio
async def test_discovers_stun_and_turn_with_short_lived_credentials(client, turn) -> None:
    servers = await discover_ice_servers(client)
    address = f"127.0.0.1:{turn.port}"
    assert [server.urls for server in servers] == [
        (f"stun:{address}",),
        (f"turn:{address}?transport=udp",),
        (f"turn:{address}?transport=tcp",),
    ]
    assert servers[0].username is None and servers[0].credential is None
    for server in servers[1:]:
        assert server.username is not None and server.credential is not None
        # TURN REST: the username is the expiry (Prosody's default ttl: one day), the
        # password its HMAC-SHA1 under the secret coturn was given
        assert time.time() < int(server.username) <= time.time() + 86400 + 5
        digest = hmac.new(turn.secret.encode(), server.username.encode(), hashlib.sha1).digest()
        assert server.credential == base64.b64encode(digest).decode()


@pytest.mark.asyncio
async def test_discovered_credentials_allocate_a_relay_on_coturn(client, turn) -> None:
    server = _turn_udp(await discover_ice_servers(client))
    assert server.username is not None and server.credential is not None
    relayed = await asyncio.to_thread(_allocate, turn.port, server.username, server.credential)
    assert isinstance(relayed, tuple) and relayed[0] == "127.0.0.1"
    refused = await asyncio.to_thread(_allocate, turn.port, server.username, "wrong" * 4)
    assert refused == 401


@pytest.mark.asyncio
async def test_credentials_request_is_answered_with_working_credentials(client, turn) -> None:
    wanted = ExternalService(ServiceType.TURN, "127.0.0.1", turn.port, "udp", restricted=True)
    answered = await ask_server(client, credentials_request([wanted]), timeout=10)
    assert {service.transport for service in answered} == {"udp", "tcp"}
    first = answered[0]
    assert first.username is not None and first.password is not None
    relayed = await asyncio.to_thread(_allocate, turn.port, first.username, first.password)
    assert isinstance(relayed, tuple)


@pytest.mark.asyncio
async def test_a_server_without_external_services_gives_none(prosody) -> None:
    client = await _online(prosody)
    try:
        assert await discover_ice_servers(client) == []
    finally:
        await disconnect(client)


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_aioice_relays_to_a_loopback_peer(client, transport: str) -> None:
    turn_client = pytest.importorskip("aioice.turn")
    servers = await discover_ice_servers(client)
    server = next(s for s in servers if s.urls[0].endswith(f"?transport={transport}"))
    location = urlsplit(server.urls[0].replace("turn:", "turn://", 1))
    assert location.hostname is not None and location.port is not None
    loop = asyncio.get_running_loop()
    peer_transport, peer = await loop.create_datagram_endpoint(_Inbox, local_addr=("127.0.0.1", 0))
    relay, ours = await turn_client.create_turn_endpoint(
        _Inbox,
        server_addr=(location.hostname, location.port),
        username=server.username,
        password=server.credential,
        transport=transport,
    )
    try:
        relay.sendto(b"through the relay", peer_transport.get_extra_info("sockname"))
        data, source = await asyncio.wait_for(peer.received.get(), 10)
        assert data == b"through the relay"
        assert source == relay.get_extra_info("sockname")
        peer_transport.sendto(b"and back", source)
        data, _ = await asyncio.wait_for(ours.received.get(), 10)
        assert data == b"and back"
    finally:
        relay.close()
        peer_transport.close()


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait((data, addr))


def _allocate(port: int, username: str, password: str) -> tuple[str, int] | int:
    """A UDP TURN allocation on 127.0.0.1:``port`` (RFC 5766 Allocate, long-term
    credentials): the relayed address, or the error code of the refusal."""
    transport = struct.pack("!B3x", 17)  # REQUESTED-TRANSPORT: UDP
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        kind, attributes = _transaction(sock, port, [(_REQUESTED_TRANSPORT, transport)])
        assert kind == _ALLOCATE_ERROR and _error_code(attributes) == 401  # the challenge
        realm, nonce = attributes[_REALM], attributes[_NONCE]
        key = hashlib.md5(f"{username}:{realm.decode()}:{password}".encode()).digest()
        kind, attributes = _transaction(
            sock,
            port,
            [
                (_REQUESTED_TRANSPORT, transport),
                (_USERNAME, username.encode()),
                (_REALM, realm),
                (_NONCE, nonce),
            ],
            key,
        )
    if kind == _ALLOCATE_ERROR:
        return _error_code(attributes)
    assert kind == _ALLOCATE_SUCCESS
    value = attributes[_XOR_RELAYED_ADDRESS]
    relayed_port = struct.unpack("!H", value[2:4])[0] ^ (STUN_MAGIC_COOKIE >> 16)
    address = struct.unpack("!I", value[4:8])[0] ^ STUN_MAGIC_COOKIE
    return socket.inet_ntoa(struct.pack("!I", address)), relayed_port


def _transaction(
    sock: socket.socket, port: int, attributes: list[tuple[int, bytes]], key: bytes = b""
) -> tuple[int, dict[int, bytes]]:
    """Send an Allocate request (with MESSAGE-INTEGRITY under ``key`` if given) and parse
    the answer into its type and attributes."""
    transaction = os.urandom(12)
    body = b"".join(
        struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)
        for kind, value in attributes
    )
    if key:
        header = struct.pack("!HHI", _ALLOCATE, len(body) + 24, STUN_MAGIC_COOKIE) + transaction
        integrity = hmac.new(key, header + body, hashlib.sha1).digest()
        body += struct.pack("!HH", _MESSAGE_INTEGRITY, 20) + integrity
    message = struct.pack("!HHI", _ALLOCATE, len(body), STUN_MAGIC_COOKIE) + transaction + body
    sock.sendto(message, ("127.0.0.1", port))
    answer = sock.recv(4096)
    kind, length = struct.unpack("!HH", answer[:4])
    assert answer[8:20] == transaction
    parsed: dict[int, bytes] = {}
    offset = 20
    while offset < 20 + length:
        attribute, size = struct.unpack("!HH", answer[offset : offset + 4])
        parsed.setdefault(attribute, answer[offset + 4 : offset + 4 + size])
        offset += 4 + size + (-size % 4)
    return kind, parsed


def _error_code(attributes: dict[int, bytes]) -> int:
    value = attributes[_ERROR_CODE]
    return (value[2] & 0x07) * 100 + value[3]
