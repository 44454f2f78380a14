"""Seeded, structured hostile stanzas: a valid Jingle or IBB payload, then a few mutations.

Each :class:`Shot` is one IQ-set as raw text (a payload nested a thousand levels deep cannot go
through slixmpp's own serialiser). Payloads are built as small element trees; a deep nest is a
marker element replaced by the nest after serialisation.
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree import ElementTree as ET

NS_JINGLE = "urn:xmpp:jingle:1"
NS_FT = "urn:xmpp:jingle:apps:file-transfer:5"
NS_IBB_TRANSPORT = "urn:xmpp:jingle:transports:ibb:1"
NS_S5B = "urn:xmpp:jingle:transports:s5b:1"
NS_IBB = "http://jabber.org/protocol/ibb"
NS_JET = "urn:xmpp:jingle:jet:0"
NS_OMEMO = "eu.siacs.conversations.axolotl"
CIPHER = "urn:xmpp:ciphers:aes-128-gcm-nopadding:0"
BLOCK_SIZE = 4096

FAMILIES = (
    "session-initiate",
    "session-initiate-jet",
    "transport-info",
    "session-info",
    "session-terminate",
    "content-add",
    "transport-replace",
    "ibb-open",
    "ibb-data",
    "ibb-close",
)

HOSTILE_VALUES = (
    "", "0", "-1", "4294967296", "99999999999999999999999", "NaN", " ", "a b", "x" * 5000,
    "../../etc/passwd", "-rf", "CON", "\u202efdp.exe", "é" * 300, "<>&'\"", "0x10",
)  # fmt: skip

_MARKER = "fuzz-nest"
_MARKER_PATTERN = re.compile(rf'<{_MARKER} depth="(\d+)" />')


@dataclass
class LiveSession:
    """A session the attacker opened for real and the target accepted."""

    target: str
    sid: str
    ibb_sid: str
    content: str
    next_seq: int = 0


@dataclass(frozen=True)
class Shot:
    """One stanza to send: its family, the target's full JID, the payload as XML text."""

    family: str
    target: str
    payload: str
    kind: str = "set"


def _element(tag: str, namespace: str, **attributes: str) -> ET.Element:
    return ET.Element(f"{{{namespace}}}{tag}", attributes)


class StanzaFactory:
    """Makes :class:`Shot` values from ``rng``; ``files`` are names the serving target has."""

    def __init__(
        self, rng: random.Random, receiver: str, server: str, files: tuple[str, ...]
    ) -> None:
        self.rng = rng
        self.receiver = receiver
        self.server = server
        self.files = files

    # -- valid payloads ----------------------------------------------------------------------

    def initiate(self, sid: str, ibb_sid: str, request: bool, jet: bool) -> ET.Element:
        """A valid session-initiate over IBB: an offer to the receiver, or a request."""
        jingle = _element("jingle", NS_JINGLE, action="session-initiate", sid=sid)
        senders = "responder" if request else "initiator"
        content = ET.SubElement(
            jingle, f"{{{NS_JINGLE}}}content", creator="initiator", name="a", senders=senders
        )
        description = ET.SubElement(content, f"{{{NS_FT}}}description")
        file = ET.SubElement(description, f"{{{NS_FT}}}file")
        name = self.rng.choice(self.files) if request else f"fuzz-{sid}.bin"
        ET.SubElement(file, f"{{{NS_FT}}}name").text = name
        if not request:
            ET.SubElement(file, f"{{{NS_FT}}}size").text = str(8 * BLOCK_SIZE)
        use_s5b = self.rng.random() < 0.3
        content.append(self.s5b_transport(ibb_sid) if use_s5b else self.ibb_transport(ibb_sid))
        if jet:
            content.append(self._security())
        return jingle

    @staticmethod
    def ibb_transport(ibb_sid: str) -> ET.Element:
        return _element(
            "transport", NS_IBB_TRANSPORT, sid=ibb_sid, stanza="iq", **{"block-size": "4096"}
        )

    def s5b_transport(self, s5b_sid: str) -> ET.Element:
        """A SOCKS5 offer whose candidates lead nowhere (a closed loopback port)."""
        transport = _element("transport", NS_S5B, sid=s5b_sid)
        for number in range(self.rng.randrange(1, 4)):
            attributes = {
                "cid": f"c{number}",
                "host": "127.0.0.1",
                "port": "9",
                "jid": "fuzz@localhost/fuzz",
                "type": "direct",
                "priority": "100",
            }
            ET.SubElement(transport, f"{{{NS_S5B}}}candidate", attributes)
        return transport

    def _security(self) -> ET.Element:
        security = _element("security", NS_JET, name="a", cipher=CIPHER, type=NS_OMEMO)
        header = ET.SubElement(
            ET.SubElement(security, f"{{{NS_OMEMO}}}encrypted"),
            f"{{{NS_OMEMO}}}header",
            sid=str(self.rng.randrange(1, 2**31)),
        )
        key = ET.SubElement(header, f"{{{NS_OMEMO}}}key", rid=str(self.rng.randrange(1, 2**31)))
        key.text = self._base64(self.rng.randrange(16, 200))
        ET.SubElement(header, f"{{{NS_OMEMO}}}iv").text = self._base64(12)
        return security

    def follow_up(self, family: str, sid: str, ibb_sid: str, content: str) -> ET.Element:
        """A valid action of ``family`` for an existing session."""
        jingle = _element("jingle", NS_JINGLE, action=family, sid=sid)
        if family == "session-terminate":
            reason = ET.SubElement(jingle, f"{{{NS_JINGLE}}}reason")
            ET.SubElement(reason, f"{{{NS_JINGLE}}}" + self.rng.choice(["cancel", "success"]))
        elif family == "session-info":
            if self.rng.random() < 0.5:
                ET.SubElement(jingle, f"{{{NS_FT}}}received", creator="initiator", name=content)
        else:
            element = ET.SubElement(
                jingle, f"{{{NS_JINGLE}}}content", creator="initiator", name=content
            )
            if family == "transport-info":
                transport = _element("transport", NS_S5B, sid=ibb_sid)
                ET.SubElement(transport, f"{{{NS_S5B}}}candidate-error")
                element.append(transport)
            else:
                element.append(self.ibb_transport(ibb_sid))
        return jingle

    def ibb(self, family: str, ibb_sid: str, seq: int) -> ET.Element:
        tag = family.removeprefix("ibb-")
        element = _element(tag, NS_IBB, sid=ibb_sid)
        if tag == "open":
            element.set("block-size", str(BLOCK_SIZE))
            element.set("stanza", "iq")
        elif tag == "data":
            element.set("seq", str(seq))
            element.text = self._base64(self.rng.randrange(1, BLOCK_SIZE + 1))
        return element

    def _base64(self, size: int) -> str:
        return base64.b64encode(self.rng.randbytes(size)).decode()

    # -- mutations ---------------------------------------------------------------------------

    def mutate(self, payload: ET.Element, times: int) -> None:
        """Apply ``times`` random mutations to ``payload`` in place."""
        for _ in range(times):
            self.rng.choice(self._mutations)(self, payload)

    def _elements(self, payload: ET.Element) -> list[ET.Element]:
        return [element for element in payload.iter() if element.tag != _MARKER]

    def _deep(self, payload: ET.Element) -> None:
        parent = self.rng.choice(self._elements(payload))
        ET.SubElement(parent, _MARKER, depth=str(self.rng.randrange(200, 1300)))

    def _stacked(self, payload: ET.Element) -> None:
        for _ in range(self.rng.randrange(2, 6)):
            ET.SubElement(self.rng.choice(self._elements(payload)), _MARKER, depth="200")

    def _wide(self, payload: ET.Element) -> None:
        parent = self.rng.choice(self._elements(payload))
        template = self.rng.choice([*self._elements(payload), ET.Element("n")])
        for _ in range(self.rng.randrange(1100, 3000)):
            parent.append(ET.Element(template.tag, dict(template.attrib)))

    def _drop_attribute(self, payload: ET.Element) -> None:
        element = self.rng.choice(self._elements(payload))
        if element.attrib:
            del element.attrib[self.rng.choice(sorted(element.attrib))]

    def _hostile_attribute(self, payload: ET.Element) -> None:
        element = self.rng.choice(self._elements(payload))
        names = [*element.attrib, "sid", "name", "seq", "block-size", "action", "creator"]
        element.set(self.rng.choice(names), self.rng.choice(HOSTILE_VALUES))

    def _hostile_text(self, payload: ET.Element) -> None:
        element = self.rng.choice(self._elements(payload))
        choices = [*HOSTILE_VALUES, "A" * 300_000, "QQ=A", "!!!!", self._base64(70_000)]
        element.text = self.rng.choice(choices)

    def _remove_child(self, payload: ET.Element) -> None:
        parents = [element for element in self._elements(payload) if len(element)]
        if parents:
            parent = self.rng.choice(parents)
            parent.remove(self.rng.choice(list(parent)))

    def _duplicate_child(self, payload: ET.Element) -> None:
        parents = [element for element in self._elements(payload) if len(element)]
        if parents:
            parent = self.rng.choice(parents)
            parent.append(_copy(self.rng.choice(list(parent))))

    def _foreign_namespace(self, payload: ET.Element) -> None:
        element = self.rng.choice(self._elements(payload))
        local = element.tag.rpartition("}")[2]
        namespace = self.rng.choice([NS_JINGLE, NS_FT, NS_S5B, NS_IBB, NS_JET, "urn:fuzz"])
        element.tag = f"{{{namespace}}}{local}"

    def _unknown_action(self, payload: ET.Element) -> None:
        payload.set("action", self.rng.choice(["", "session-fly", "content-modify", "x" * 300]))

    _mutations: tuple[Callable[[StanzaFactory, ET.Element], None], ...] = (
        _deep, _stacked, _wide, _drop_attribute, _hostile_attribute, _hostile_attribute,
        _hostile_text, _remove_child, _duplicate_child, _foreign_namespace, _unknown_action,
    )  # fmt: skip


def _copy(element: ET.Element) -> ET.Element:
    """A copy of a shallow element (the payloads here are only a few levels deep)."""
    copied = ET.Element(element.tag, dict(element.attrib))
    copied.text = element.text
    copied.extend(_copy(child) for child in element)
    return copied


def serialise(payload: ET.Element) -> str:
    """The payload as XML text, every nest marker replaced by its nest."""
    text = ET.tostring(payload, encoding="unicode")
    return _MARKER_PATTERN.sub(lambda found: _nest(int(found.group(1))), text)


def _nest(depth: int) -> str:
    return "<n>" * depth + "</n>" * depth
