"""Our SOCKS5 server for the direct candidates of one transport session.

It listens on each address the user allows, serves the SOCKS5 handshake of every incoming
connection, and keeps the ones that asked for an accepted DST.ADDR until the session claims
the nominated one. Connections asking for anything else get a refusal and are closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from ...errors import TransportError
from . import socks5
from .socks5 import READ_BUFFER, Connection

log = logging.getLogger(__name__)

Endpoint = tuple[str, int]


class DirectListener:
    """Accepts the peer's connections to our direct candidates."""

    def __init__(self, accepted: Collection[str], handshake_timeout: float) -> None:
        """``accepted``: the DST.ADDR values a peer may ask for; others are refused."""
        self._accepted = frozenset(accepted)
        self._handshake_timeout = handshake_timeout
        self._servers: list[asyncio.Server] = []
        self._in_handshake: set[Connection] = set()
        self._ready: dict[Endpoint, Connection] = {}
        self._closed = False

    async def listen(self, host: str, port_range: tuple[int, int] | None = None) -> Endpoint | None:
        """Listen on ``host``; returns the bound ``(host, port)``, or None if nothing was free.

        Without ``port_range`` the system picks a free port.
        """
        ports = [0] if port_range is None else range(port_range[0], port_range[1] + 1)
        for port in ports:
            try:
                server = await asyncio.start_server(self._serve, host, port, limit=READ_BUFFER)
            except OSError as error:
                log.debug("cannot listen on %s port %s: %s", host, port, error)
                continue
            self._servers.append(server)
            bound: Endpoint = server.sockets[0].getsockname()[:2]
            return bound
        log.warning("no SOCKS5 listener on %s: no port free in %s", host, port_range or "any")
        return None

    def claim(self, endpoint: Endpoint) -> Connection | None:
        """Take the latest finished connection to ``endpoint``, if any; the caller owns it."""
        return self._ready.pop(endpoint, None)

    def close(self) -> None:
        """Stop listening and drop every connection nobody claimed. Safe to call twice."""
        self._closed = True
        for server in self._servers:
            server.close()
        self._servers.clear()
        for connection in [*self._in_handshake, *self._ready.values()]:
            connection.abort()
        self._in_handshake.clear()
        self._ready.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(reader, writer)
        if self._closed:
            connection.abort()
            return
        endpoint: Endpoint = writer.get_extra_info("sockname")[:2]
        self._in_handshake.add(connection)
        try:
            async with asyncio.timeout(self._handshake_timeout):
                await socks5.accept(connection, self._accepted.__contains__)
        except (TransportError, TimeoutError) as error:
            reason = str(error) or "no complete handshake in time"
            log.info("refused a SOCKS5 connection on %s:%s: %s", *endpoint, reason)
            writer.close()
            return
        finally:
            self._in_handshake.discard(connection)
        if self._closed:
            connection.abort()
            return
        earlier = self._ready.pop(endpoint, None)
        if earlier is not None:
            earlier.abort()
        self._ready[endpoint] = connection
