"""XEP-0115's outgoing filter, without a task for every stanza.

slixmpp's ``xep_0115`` (loaded with OMEMO, through PEP) adds caps to our presence in an
``out`` filter that is a coroutine, and slixmpp runs a coroutine filter for every outgoing
stanza as a task it then awaits: each IBB data IQ and acknowledgement cost the event loop
several turns (19,686 for 16 MiB of JET-OMEMO IBB, against 2,782 without OMEMO).
:class:`SyncCapsFilter` puts a plain function in its place that does the same: the
verification string comes from ``xep_0115``'s storage API, whose default handler answers
at once. A presence therefore keeps its place among the stanzas sent after it. Should a
coroutine handler answer instead, the presence goes out without caps (logged), as a
presence does before caps are computed.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from slixmpp import Presence
from slixmpp.basexmpp import BaseXMPP
from slixmpp.xmlstream import StanzaBase

log = logging.getLogger(__name__)

CAPS_PRESENCE_TYPES = ("available", "chat", "away", "dnd", "xa")
"""The presence types ``xep_0115`` adds caps to."""

_FILTER = "_filter_add_caps"
"""The attribute under which ``xep_0115`` keeps its filter (and removes it on unload)."""


class SyncCapsFilter:
    """Stands in for ``xep_0115``'s ``out`` filter on ``xmpp`` while installed."""

    def __init__(self, xmpp: BaseXMPP) -> None:
        self.xmpp = xmpp
        self._original: Callable[[StanzaBase], Any] | None = None

    @property
    def installed(self) -> bool:
        caps = self.xmpp.plugin.get("xep_0115", None)
        return caps is not None and getattr(caps, _FILTER, None) == self.filter

    def install(self) -> None:
        """Take the place of ``xep_0115``'s filter, if that plugin is loaded and its filter is
        a coroutine in the ``out`` list; otherwise (or again) leave everything as it is."""
        caps = self.xmpp.plugin.get("xep_0115", None)
        if caps is None or self.installed:
            return
        original = getattr(caps, _FILTER, None)
        if original is None or not inspect.iscoroutinefunction(original):
            return
        try:
            self.xmpp.del_filter("out", original)
        except ValueError:  # someone took it out already: nothing to stand in for
            return
        self._original = original
        setattr(caps, _FILTER, self.filter)
        self.xmpp.add_filter("out", self.filter)

    def remove(self) -> None:
        """Give ``xep_0115`` its own filter back (if it is still loaded)."""
        original, self._original = self._original, None
        if original is None or not self.installed:
            return
        caps = self.xmpp.plugin["xep_0115"]
        self.xmpp.del_filter("out", self.filter)
        setattr(caps, _FILTER, original)
        self.xmpp.add_filter("out", original)

    def filter(self, stanza: StanzaBase) -> StanzaBase:
        """What ``xep_0115``'s filter does: caps on an available presence, if we have them."""
        caps = self.xmpp.plugin.get("xep_0115", None)
        if not isinstance(stanza, Presence) or caps is None or not caps.broadcast:
            return stanza
        if stanza["type"] not in CAPS_PRESENCE_TYPES:
            return stanza
        found = caps.get_verstring(stanza["from"])
        if not found.done():  # a coroutine handler: it cannot answer in time
            found.cancel()
            log.warning("xep_0115 answers verification strings later: presence sent without caps")
            return stanza
        ver = found.result()
        if ver:
            stanza["caps"]["node"] = caps.caps_node
            stanza["caps"]["hash"] = caps.hash
            stanza["caps"]["ver"] = ver
        return stanza
