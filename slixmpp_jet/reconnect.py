"""Coming back after the stream to the server is lost, with backoff and a log line.

slixmpp retries a connection that cannot be made, but once an established stream ends
(server restart, network drop) it stays offline. :class:`Reconnector` connects again after
each loss it did not cause: first after ``first_delay`` seconds, doubling up to ``max_delay``
while losses follow each other without a session in between. The Jingle sessions of the lost
stream have already ended by then (``xep_0166`` ends them on ``session_end``); nothing of
them is resumed.

Stop it (:meth:`Reconnector.stop`) before disconnecting on purpose, or it connects again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slixmpp.basexmpp import BaseXMPP

log = logging.getLogger(__name__)


class Reconnector:
    """Connects ``xmpp`` again whenever its stream ends, from :meth:`start` until :meth:`stop`.

    Events: ``jet_reconnecting`` (the delay in seconds) when a loss is noticed,
    ``jet_reconnected`` (None) when the session is back.
    """

    def __init__(self, xmpp: BaseXMPP, first_delay: float = 1.0, max_delay: float = 60.0) -> None:
        if not 0 < first_delay <= max_delay:
            raise ValueError("need 0 < first_delay <= max_delay")
        self.xmpp = xmpp
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.losses = 0
        """Streams lost since :meth:`start`."""
        self._delay = first_delay
        self._waiting = False
        self._pending: asyncio.TimerHandle | None = None
        self._running = False

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self.xmpp.add_event_handler("disconnected", self._on_disconnected)
        self.xmpp.add_event_handler("session_start", self._on_session_start)

    def stop(self) -> None:
        """No more reconnecting; a connection attempt already scheduled is called off."""
        self._running = False
        self.xmpp.del_event_handler("disconnected", self._on_disconnected)
        self.xmpp.del_event_handler("session_start", self._on_session_start)
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def _on_disconnected(self, reason: Any) -> None:
        if not self._running or self._pending is not None:
            return
        self.losses += 1
        delay = self._delay
        self._delay = min(self.max_delay, delay * 2)
        self._waiting = True
        why = f" ({reason})" if reason else ""
        log.warning("lost the connection to the server%s; connecting again in %g s", why, delay)
        self.xmpp.event("jet_reconnecting", delay)
        self._pending = asyncio.get_running_loop().call_later(delay, self._connect)

    def _connect(self) -> None:
        self._pending = None
        host, port = self.xmpp.custom_address or (None, None)
        self.xmpp.connect(host, port)

    def _on_session_start(self, _event: object) -> None:
        if self._waiting:
            self._waiting = False
            log.warning("connected again as %s", self.xmpp.boundjid)
            self.xmpp.event("jet_reconnected", None)
        self._delay = self.first_delay
