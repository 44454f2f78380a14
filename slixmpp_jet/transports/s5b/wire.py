"""The ``<transport xmlns='urn:xmpp:jingle:transports:s5b:1'/>`` element, to and from values.

Two shapes travel on the wire (XEP-0260 §2.2-2.4): an :class:`Offer` (sid, dstaddr and the
candidates, in session-initiate/-accept) and one notice per transport-info
(:class:`CandidateUsed`, :class:`CandidateError`, :class:`Activated`, :class:`ProxyError`).
Parsing is strict: anything malformed raises :class:`~slixmpp_jet.errors.ProtocolError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from ...errors import ProtocolError
from .candidates import Candidate, CandidateType

NS = "urn:xmpp:jingle:transports:s5b:1"
DEFAULT_PORT = 1080
"""The port of a candidate that names none (what Dino assumes, the SOCKS5 default)."""
_MAX_DSTADDR = 255
_DIGITS = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True)
class Offer:
    """A party's ``<transport/>``: its bytestream sid, DST.ADDR and candidates."""

    sid: str
    dstaddr: str | None
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class CandidateUsed:
    """The sender connected to our candidate ``cid``."""

    cid: str


@dataclass(frozen=True)
class CandidateError:
    """The sender could not connect to any of our candidates."""


@dataclass(frozen=True)
class Activated:
    """The sender activated its proxy candidate ``cid``; data may flow."""

    cid: str


@dataclass(frozen=True)
class ProxyError:
    """The sender could not use the nominated proxy; the bytestream failed."""


Notice = CandidateUsed | CandidateError | Activated | ProxyError

_NOTICE_TAGS: dict[type[Notice], str] = {
    CandidateUsed: "candidate-used",
    CandidateError: "candidate-error",
    Activated: "activated",
    ProxyError: "proxy-error",
}


def build_offer(offer: Offer) -> ET.Element:
    """Our ``<transport/>``; never with ``mode`` (TCP is the default, responders MUST NOT)."""
    element = _transport(offer.sid)
    if offer.dstaddr is not None:
        element.set("dstaddr", offer.dstaddr)
    for candidate in offer.candidates:
        ET.SubElement(
            element,
            f"{{{NS}}}candidate",
            {
                "cid": candidate.cid,
                "host": candidate.host,
                "port": str(candidate.port),
                "jid": candidate.jid,
                "type": candidate.type.value,
                "priority": str(candidate.priority),
            },
        )
    return element


def parse_offer(element: ET.Element) -> Offer:
    """The peer's ``<transport/>`` as an :class:`Offer`."""
    sid = _sid_of(element)
    mode = element.get("mode", "tcp")
    if mode != "tcp":
        raise ProtocolError(
            f"SOCKS5 mode {mode!r} is not supported, only 'tcp'",
            condition="feature-not-implemented",
        )
    dstaddr = element.get("dstaddr")
    if dstaddr is not None and not (0 < len(dstaddr) <= _MAX_DSTADDR and dstaddr.isascii()):
        raise ProtocolError("dstaddr must be 1 to 255 ASCII characters")
    candidates = tuple(
        _parse_candidate(child) for child in element if child.tag == f"{{{NS}}}candidate"
    )
    cids = [candidate.cid for candidate in candidates]
    if len(set(cids)) != len(cids):
        raise ProtocolError("two SOCKS5 candidates share one cid")
    return Offer(sid, dstaddr, candidates)


def notice_tag(notice: Notice) -> str:
    """The element name of ``notice``, e.g. ``candidate-used``."""
    return _NOTICE_TAGS[type(notice)]


def build_notice(sid: str, notice: Notice) -> ET.Element:
    """The ``<transport/>`` of a transport-info carrying ``notice``."""
    element = _transport(sid)
    child = ET.SubElement(element, f"{{{NS}}}{notice_tag(notice)}")
    if isinstance(notice, CandidateUsed | Activated):
        child.set("cid", notice.cid)
    return element


def parse_notice(element: ET.Element) -> tuple[str, Notice]:
    """``(sid, notice)`` from the ``<transport/>`` of a peer's transport-info."""
    sid = _sid_of(element)
    children = list(element)
    if any(child.tag == f"{{{NS}}}candidate" for child in children):
        raise ProtocolError(
            "SOCKS5 candidates sent in transport-info are not supported; "
            "offer them in session-initiate or session-accept",
            condition="feature-not-implemented",
        )
    if len(children) != 1:
        raise ProtocolError(
            f"a SOCKS5 transport-info needs exactly one notice, got {len(children)}"
        )
    child = children[0]
    tag = child.tag.removeprefix(f"{{{NS}}}")
    if tag == "candidate-used":
        return sid, CandidateUsed(_required(child, "cid"))
    if tag == "candidate-error":
        return sid, CandidateError()
    if tag == "activated":
        return sid, Activated(_required(child, "cid"))
    if tag == "proxy-error":
        return sid, ProxyError()
    raise ProtocolError(f"unknown SOCKS5 transport-info element {child.tag!r}")


def _transport(sid: str) -> ET.Element:
    return ET.Element(f"{{{NS}}}transport", {"sid": sid})


def _sid_of(element: ET.Element) -> str:
    if element.tag != f"{{{NS}}}transport":
        raise ProtocolError(f"expected a SOCKS5 <transport/>, got {element.tag!r}")
    return _required(element, "sid")


def _parse_candidate(element: ET.Element) -> Candidate:
    type_name = element.get("type", CandidateType.DIRECT.value)
    try:
        kind = CandidateType(type_name)
    except ValueError:
        raise ProtocolError(f"unknown SOCKS5 candidate type {type_name!r}") from None
    port = _number(element, "port", default=DEFAULT_PORT)
    if not 0 < port < 0x10000:
        raise ProtocolError(f"SOCKS5 candidate port {port} is outside 1..65535")
    priority = _number(element, "priority")
    if priority <= 0:
        raise ProtocolError("a SOCKS5 candidate priority must be a positive integer")
    return Candidate(
        cid=_required(element, "cid"),
        host=_required(element, "host"),
        port=port,
        jid=_required(element, "jid"),
        type=kind,
        priority=priority,
    )


def _required(element: ET.Element, name: str) -> str:
    value = element.get(name)
    if not value:
        tag = element.tag.rpartition("}")[2]
        raise ProtocolError(f"<{tag}/> lacks the required attribute {name!r}")
    return value


def _number(element: ET.Element, name: str, default: int | None = None) -> int:
    value = element.get(name)
    if value is None and default is not None:
        return default
    if value is None or not _DIGITS.fullmatch(value):
        raise ProtocolError(f"SOCKS5 candidate {name} {value!r} is not a number")
    return int(value)
