"""Work done after every read of a client's XML stream, removable when a plugin unloads.

slixmpp has no hook after it has parsed a read, so :class:`AfterRead` wraps the client's
``data_received`` (an instance attribute, which stays across reconnections). :meth:`remove`
puts back what it wrapped when nothing wrapped it since; otherwise it only goes quiet,
so that a wrapper installed later keeps working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slixmpp.basexmpp import BaseXMPP


class AfterRead:
    """Calls ``after(data)`` once ``xmpp`` has handled each read ``data`` of its stream."""

    def __init__(self, xmpp: BaseXMPP, after: Callable[[Any], None]) -> None:
        self.xmpp = xmpp
        self._after = after
        self._wrapped: Callable[[Any], None] | None = None
        self._wrapper: Callable[[Any], None] | None = None
        self._had_own = False

    @property
    def installed(self) -> bool:
        return self._wrapper is not None

    def install(self) -> None:
        """Wrap the client's ``data_received`` (ValueError if this hook already did)."""
        if self._wrapper is not None:
            raise ValueError("this hook is installed already")
        self._had_own = "data_received" in vars(self.xmpp)
        receive: Callable[[Any], None] = self.xmpp.data_received

        def data_received(data: Any) -> None:
            receive(data)
            if self._wrapper is data_received:
                self._after(data)

        self._wrapped, self._wrapper = receive, data_received
        self.xmpp.data_received = data_received  # type: ignore[method-assign]

    def remove(self) -> None:
        """Stop calling ``after``; unwrap ``data_received`` if ours is still the outermost."""
        wrapper, wrapped = self._wrapper, self._wrapped
        self._wrapper = self._wrapped = None
        if wrapper is None or vars(self.xmpp).get("data_received") is not wrapper:
            return
        if self._had_own:
            self.xmpp.data_received = wrapped  # type: ignore[method-assign,assignment]
        else:
            del self.xmpp.data_received  # slixmpp's own method again
