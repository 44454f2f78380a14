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
from typing import Any

from slixmpp.basexmpp import BaseXMPP

from .stream_hook import AfterRead

QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def install(xmpp: BaseXMPP) -> AfterRead | None:
    """Keep quick acknowledgement on for ``xmpp``'s stream, across reconnections, until the
    returned hook is removed; None where the option does not exist."""
    if QUICKACK is None:
        return None

    def acknowledge_quickly(_data: Any) -> None:
        transport = xmpp.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):  # a closed socket: nothing to acknowledge
                sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)

    hook = AfterRead(xmpp, acknowledge_quickly)
    hook.install()
    return hook
