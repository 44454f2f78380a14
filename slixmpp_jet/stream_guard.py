"""Stanzas too deep or too large are refused before anything parses or copies them.

Two layers. :func:`oversize` measures an element without recursion, against
:class:`PayloadLimits`: the Jingle and IBB handlers refuse a payload beyond what their XEPs
need with ``bad-request`` before parsing it. :class:`StreamGuard` is an incoming stanza filter
for the whole client: slixmpp's own handlers (an unhandled IQ, disco, ping) answer through
``iq.reply()``, whose deep copy of a stanza nested some 500 levels raises ``RecursionError``
in the parser callback and drops the stream. The guard answers such an IQ with a fresh
``bad-request`` and drops any other such stanza, so no handler ever sees it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from slixmpp import Iq, Message, Presence
from slixmpp.basexmpp import BaseXMPP
from slixmpp.xmlstream import StanzaBase

from .replies import error_to

log = logging.getLogger(__name__)

COUNTED = (Message, Presence, Iq)
"""The stanzas XEP-0198 counts."""


@dataclass(frozen=True)
class PayloadLimits:
    """The most a payload may hold: nesting levels (the element itself is level 1), elements,
    and characters of text and attribute values, all counted together."""

    depth: int
    elements: int
    characters: int


STANZA_LIMITS = PayloadLimits(depth=64, elements=100_000, characters=16 * 1024 * 1024)
"""Any stanza: far deeper than any XEP nests (carbons of MAM results of OMEMO stay under 15),
far shallower than where slixmpp's recursive copy and serialisation break (about 500). The
server's stanza size limit bounds the rest."""


def oversize(element: ET.Element, limits: PayloadLimits) -> str | None:
    """Why ``element`` exceeds ``limits``, or None; stops at the first excess."""
    elements = 0
    characters = 0
    pending = [(element, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > limits.depth:
            return f"nested deeper than {limits.depth} levels"
        elements += 1
        if elements > limits.elements:
            return f"more than {limits.elements} elements"
        characters += len(node.text or "") + len(node.tail or "")
        characters += sum(len(value) for value in node.attrib.values())
        if characters > limits.characters:
            return f"more than {limits.characters} characters"
        pending.extend((child, depth + 1) for child in node)
    return None


class StreamGuard:
    """An incoming filter on ``xmpp`` refusing stanzas beyond ``limits`` before any handler.

    An IQ get or set gets a ``bad-request`` error; anything else is dropped (logged at INFO).
    :meth:`install` and :meth:`remove` add and take away the filter; it lives across
    reconnections. XEP-0198 (``xep_0198``) has to count a dropped stanza as handled, or the
    server would keep it unacknowledged and send it again on resumption: the guard counts it,
    and keeps stream management's own counting filter behind itself, so that it is counted
    once whichever plugin was loaded first.
    """

    def __init__(self, xmpp: BaseXMPP, limits: PayloadLimits = STANZA_LIMITS) -> None:
        self.xmpp = xmpp
        self.limits = limits
        self.refused = 0
        """How many stanzas the guard stopped so far."""

    def install(self) -> None:
        self.xmpp.add_filter("in", self._check)
        management = self.xmpp.plugin.get("xep_0198", None)
        if management is not None:  # loaded before us: its counting filter goes behind ours
            counting = management._handle_incoming  # slixmpp has no public name for it
            self.xmpp.del_filter("in", counting)
            self.xmpp.add_filter("in", counting)

    def remove(self) -> None:
        self.xmpp.del_filter("in", self._check)

    def _check(self, stanza: StanzaBase) -> StanzaBase | None:
        why = oversize(stanza.xml, self.limits)
        if why is None:
            return stanza
        self.refused += 1
        sender = stanza.xml.get("from", "the server")
        log.info("refused a <%s/> from %s: %s", stanza.name, sender, why)
        if isinstance(stanza, Iq) and stanza.xml.get("type") in ("get", "set"):
            error_to(stanza, "bad-request", f"stanza {why}").send()
        self._count_as_handled(stanza)
        return None

    def _count_as_handled(self, stanza: StanzaBase) -> None:
        """What XEP-0198's own incoming filter would have done with ``stanza``."""
        management = self.xmpp.plugin.get("xep_0198", None)
        if management is not None and management.enabled_in and isinstance(stanza, COUNTED):
            management.handled = (management.handled + 1) % 2**32
