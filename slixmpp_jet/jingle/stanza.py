"""Jingle wire format (XEP-0166 §7): the ``<jingle/>`` stanza plugin and plain content values.

The slixmpp ``Jingle`` element carries the action and ids; contents and reasons are parsed into
frozen values holding the raw child elements, so each layer (application, transport, security)
reads only its own child.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar
from xml.etree import ElementTree as ET

from slixmpp import Iq
from slixmpp.xmlstream import ElementBase, register_stanza_plugin

from ..errors import ProtocolError, Reason
from .session import Action, Role

NS = "urn:xmpp:jingle:1"
NS_ERRORS = "urn:xmpp:jingle:errors:1"
SECURITY_TAG = "security"

_ACTIONS = {action.value: action for action in Action}
_REASONS = {reason.value: reason for reason in Reason}


class Jingle(ElementBase):
    """``<jingle xmlns='urn:xmpp:jingle:1' action sid initiator responder/>``."""

    name = "jingle"
    namespace = NS
    plugin_attrib = "jingle"
    interfaces: ClassVar[set[str]] = {"action", "sid", "initiator", "responder"}


def register_plugins() -> None:
    """Make ``iq['jingle']`` available."""
    register_stanza_plugin(Iq, Jingle)


@dataclass(frozen=True)
class Content:
    """One ``<content/>``: its attributes and the raw description/transport/security children."""

    creator: Role
    name: str
    senders: str = "both"
    disposition: str = "session"
    description: ET.Element | None = field(default=None, compare=False)
    transport: ET.Element | None = field(default=None, compare=False)
    security: ET.Element | None = field(default=None, compare=False)

    def to_xml(self) -> ET.Element:
        element = ET.Element(f"{{{NS}}}content", creator=self.creator.value, name=self.name)
        if self.senders != "both":
            element.set("senders", self.senders)
        if self.disposition != "session":
            element.set("disposition", self.disposition)
        for child in (self.description, self.transport, self.security):
            if child is not None:
                element.append(child)
        return element


@dataclass(frozen=True)
class JingleReason:
    """A ``<reason/>``: one condition, optional text, optional application element.

    ``alternative_sid`` is the ``<sid/>`` an ``alternative-session`` condition points to.
    """

    condition: Reason
    text: str | None = None
    extra: ET.Element | None = field(default=None, compare=False)
    alternative_sid: str | None = None

    def to_xml(self) -> ET.Element:
        element = ET.Element(f"{{{NS}}}reason")
        condition = ET.SubElement(element, f"{{{NS}}}{self.condition.value}")
        if self.condition is Reason.ALTERNATIVE_SESSION and self.alternative_sid:
            ET.SubElement(condition, f"{{{NS}}}sid").text = self.alternative_sid
        if self.text:
            ET.SubElement(element, f"{{{NS}}}text").text = self.text
        if self.extra is not None:
            element.append(self.extra)
        return element


def parse_action(jingle: Jingle) -> Action:
    """The action of a ``<jingle/>``; an unknown one is ``bad-request`` (XEP-0166 §7.2)."""
    value = jingle.xml.get("action", "")
    try:
        return _ACTIONS[value]
    except KeyError:
        raise ProtocolError(f"unknown Jingle action {value!r}") from None


def parse_contents(jingle: ET.Element) -> list[Content]:
    """Every ``<content/>`` of a ``<jingle/>``; malformed ones are ``bad-request``."""
    contents = [_parse_content(element) for element in jingle.findall(f"{{{NS}}}content")]
    keys = [(content.creator, content.name) for content in contents]
    if len(set(keys)) != len(keys):
        raise ProtocolError("two contents with the same creator and name")
    if contents and all(content.disposition != "session" for content in contents):
        raise ProtocolError("at least one content must have disposition 'session'")
    return contents


def _parse_content(element: ET.Element) -> Content:
    creator, name = element.get("creator"), element.get("name")
    if creator not in ("initiator", "responder") or not name:
        raise ProtocolError("content needs a creator (initiator|responder) and a name")
    senders = element.get("senders", "both")
    if senders not in ("both", "initiator", "responder", "none"):
        raise ProtocolError(f"invalid senders {senders!r}")
    descriptions = [child for child in element if _local(child.tag) == "description"]
    transports = [child for child in element if _local(child.tag) == "transport"]
    securities = [child for child in element if _local(child.tag) == SECURITY_TAG]
    if len(descriptions) > 1 or len(transports) > 1 or len(securities) > 1:
        raise ProtocolError(f"content {name!r} repeats a description, transport or security")
    return Content(
        creator=Role(creator),
        name=name,
        senders=senders,
        disposition=element.get("disposition", "session"),
        description=descriptions[0] if descriptions else None,
        transport=transports[0] if transports else None,
        security=securities[0] if securities else None,
    )


def parse_reason(jingle: ET.Element) -> JingleReason | None:
    """The ``<reason/>`` of a ``<jingle/>``; an unknown condition reads as general-error."""
    element = jingle.find(f"{{{NS}}}reason")
    if element is None:
        return None
    condition, text, extra, alternative_sid = Reason.GENERAL_ERROR, None, None, None
    for child in element:
        local = _local(child.tag)
        if child.tag == f"{{{NS}}}text":
            text = child.text
        elif child.tag.startswith(f"{{{NS}}}") and local in _REASONS:
            condition = _REASONS[local]
            is_alternative = condition is Reason.ALTERNATIVE_SESSION
            alternative_sid = child.findtext(f"{{{NS}}}sid") if is_alternative else None
        elif not child.tag.startswith(f"{{{NS}}}"):
            extra = child
    return JingleReason(condition, text, extra, alternative_sid)


def namespace_of(element: ET.Element) -> str:
    """The namespace of an element's tag ('' if none)."""
    return element.tag[1:].split("}", 1)[0] if element.tag.startswith("{") else ""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def fill(
    jingle: Jingle, contents: Iterable[Content] = (), extra: Iterable[ET.Element] = ()
) -> None:
    """Append contents and other children (reason, session-info payloads) to ``jingle``."""
    for content in contents:
        jingle.xml.append(content.to_xml())
    for element in extra:
        jingle.xml.append(element)
