"""Coming back after the stream to the server is lost, with backoff and a log line.

slixmpp retries a connection that cannot be made, but once an established stream ends
(server restart, network drop) it stays offline. :class:`Reconnector` connects again after
each loss it did not cause: first after ``first_delay`` seconds, doubling up to ``max_delay``
while losses follow each other without a session in between. While the server stays out of
reach, the Reconnector keeps the retries on that same schedule: slixmpp's own would stretch
to five minutes between attempts during a long outage. The Jingle sessions of the lost
stream have already ended by then (``xep_0166`` ends them on ``session_end``); nothing of
them is resumed.

It does not come back after ``xmpp.disconnect()`` (on purpose), after a ``conflict`` stream
error (another client took over this resource; taking it back would start a fight), or
after the server refused the login; the last two end it with ``jet_reconnect_stopped``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from slixmpp.basexmpp import BaseXMPP

log = logging.getLogger(__name__)


class Reconnector:
    """Connects ``xmpp`` again whenever its stream ends, from :meth:`start` until :meth:`stop`.

    Events: ``jet_reconnecting`` (the delay in seconds) when a loss or a failed attempt is
    noticed, ``jet_reconnected`` (None) when the session is back, ``jet_reconnect_stopped``
    (why, a sentence) when it gives up for good.
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
        self._on_purpose = False
        self._disconnect: Callable[..., Any] | None = None
        self._handlers: dict[str, Callable[[Any], None]] = {
            "disconnected": self._on_disconnected,
            "session_start": self._on_session_start,
            "connection_failed": self._on_connection_failed,
            "stream_error": self._on_stream_error,
            "failed_all_auth": self._on_failed_all_auth,
        }

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        for event, handler in self._handlers.items():
            self.xmpp.add_event_handler(event, handler)
        original = self._disconnect = self.xmpp.disconnect

        def disconnect(*args: Any, **kwargs: Any) -> Any:
            self._on_purpose = True
            return original(*args, **kwargs)

        self.xmpp.disconnect = disconnect  # type: ignore[method-assign]

    def stop(self) -> None:
        """No more reconnecting; a connection attempt already scheduled is called off."""
        if not self._running:
            return
        self._running = False
        for event, handler in self._handlers.items():
            self.xmpp.del_event_handler(event, handler)
        if self._disconnect is not None:
            self.xmpp.disconnect = self._disconnect  # type: ignore[method-assign]
            self._disconnect = None
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def _give_up(self, why: str) -> None:
        log.error("not connecting again: %s", why)
        self.stop()
        self.xmpp.event("jet_reconnect_stopped", why)

    def _on_disconnected(self, reason: Any) -> None:
        if self._on_purpose:
            self._on_purpose = False
            return
        if self._pending is not None:
            return
        self.losses += 1
        why = f" ({reason})" if reason else ""
        self._retry_later(f"lost the connection to the server{why}")

    def _on_connection_failed(self, error: Any) -> None:
        """Our attempt failed: retry on our schedule instead of slixmpp's longer one."""
        if not self._waiting or self._pending is not None:
            return
        self.xmpp.cancel_connection_attempt()
        self._retry_later(f"cannot reach the server ({error})")

    def _retry_later(self, what: str) -> None:
        delay = self._delay
        self._delay = min(self.max_delay, delay * 2)
        self._waiting = True
        log.warning("%s; connecting again in %g s", what, delay)
        self.xmpp.event("jet_reconnecting", delay)
        self._pending = asyncio.get_running_loop().call_later(delay, self._connect)

    def _connect(self) -> None:
        self._pending = None
        host, port = self.xmpp.custom_address or (None, None)
        self.xmpp.connect(host, port)

    def _on_stream_error(self, error: Any) -> None:
        if error["condition"] == "conflict":
            self._give_up("another client logged in with this resource")

    def _on_failed_all_auth(self, _event: Any) -> None:
        if self._waiting:
            self._give_up("the server refused the login")

    def _on_session_start(self, _event: object) -> None:
        self._on_purpose = False
        if self._waiting:
            self._waiting = False
            log.warning("connected again as %s", self.xmpp.boundjid)
            self.xmpp.event("jet_reconnected", None)
        self._delay = self.first_delay
