"""Acknowledge the server's TCP segments at once (Linux ``TCP_QUICKACK``).

Prosody leaves Nagle's algorithm on for client connections by default (``nagle = true`` in
``network_settings``): a small stanza waits while an earlier segment is unacknowledged, and
Linux delays its ACKs by up to 40 ms. Every Jingle round trip then risks 40 ms, an IBB block
stream is paced by them. Linux turns quick acknowledgement back off by itself, so it is set
again after every read of the XML stream.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable

from slixmpp.basexmpp import BaseXMPP

QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def install(xmpp: BaseXMPP) -> None:
    """Keep quick acknowledgement on for ``xmpp``'s stream, across reconnections (no-op where
    the option does not exist)."""
    if QUICKACK is None:
        return
    receive: Callable[[bytes], None] = xmpp.data_received

    def data_received(data: bytes) -> None:
        receive(data)
        transport = xmpp.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):  # a closed socket: nothing to acknowledge
                sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)

    xmpp.data_received = data_received  # type: ignore[method-assign,assignment]
