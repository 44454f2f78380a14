"""Typed Jingle actions: each incoming ``<jingle/>`` parsed once, before any application sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from ..errors import ProtocolError
from . import stanza
from .session import Action
from .stanza import Content, JingleReason

_STRUCTURE = {f"{{{stanza.NS}}}content", f"{{{stanza.NS}}}reason"}


@dataclass(frozen=True)
class JingleAction:
    """One action from the peer: what it is, its contents, its reason, its payloads.

    ``payloads`` are the children that are neither contents nor the reason: the
    application-specific elements of ``session-info`` (a checksum, ``<received/>``...).
    """

    action: Action
    sid: str
    contents: tuple[Content, ...] = ()
    reason: JingleReason | None = None
    payloads: tuple[ET.Element, ...] = field(default=(), compare=False)

    def content(self, name: str) -> Content:
        """The content called ``name``; a lone content with another name is taken as it, since
        some peers get the name wrong (Conversations). ``bad-request`` when there is none."""
        if not self.contents:
            raise ProtocolError(f"{self.action.value} carries no content")
        return next((c for c in self.contents if c.name == name), self.contents[0])


def parse(jingle: stanza.Jingle) -> JingleAction:
    """The typed action of a ``<jingle/>``; malformed ones raise ProtocolError (bad-request)."""
    action = stanza.parse_action(jingle)
    sid = jingle["sid"]
    if not sid:
        raise ProtocolError("the jingle element has no sid")
    element = jingle.xml
    return JingleAction(
        action=action,
        sid=sid,
        contents=tuple(stanza.parse_contents(element)),
        reason=stanza.parse_reason(element),
        payloads=tuple(child for child in element if child.tag not in _STRUCTURE),
    )
