"""The ``<transport/>`` of the WebRTC data-channel transport, as Conversations writes it.

Pure functions over ``xml.etree`` elements: no I/O, no aiortc, so every rule about what the peer
may send is unit-tested without a server. The element nests an XEP-0176 ICE-UDP ``<transport/>``
(credentials, DTLS fingerprint of XEP-0320, candidates) inside the data-channel one (SCTP port,
largest message); ``WIRE.md`` beside this file has the facts and an example.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from ...errors import ProtocolError

NS = "urn:xmpp:jingle:transports:webrtc-datachannel:1"
NS_ICE_UDP = "urn:xmpp:jingle:transports:ice-udp:1"
NS_DTLS = "urn:xmpp:jingle:apps:dtls:0"
NS_ICE_OPTION = "http://gultsch.de/xmpp/drafts/jingle/transports/ice-udp/option"
"""Conversations' namespace for ICE options (only ``trickle`` and ``renomination`` exist)."""

TRANSPORT_TAG = f"{{{NS}}}transport"
_ICE_TAG = f"{{{NS_ICE_UDP}}}transport"
_FINGERPRINT_TAG = f"{{{NS_DTLS}}}fingerprint"
_CANDIDATE_TAG = f"{{{NS_ICE_UDP}}}candidate"
ICE_OPTIONS = ("trickle", "renomination")
SETUPS = ("actpass", "active", "passive")
CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")
MAX_CANDIDATES = 32
"""The most candidates one element may carry (a real agent has a handful)."""

_TOKEN = re.compile(r"[!-~]{1,256}")
"""Printable ASCII without whitespace: what may go into an SDP line unchanged."""
_DECIMAL = re.compile(r"[0-9]{1,10}")
_MDNS_NAME = re.compile(r"[0-9A-Za-z-]{1,63}\.local")
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){15,63}")


@dataclass(frozen=True)
class Fingerprint:
    """The DTLS certificate fingerprint (XEP-0320): ``hash`` function, hex ``value``, role."""

    hash: str
    value: str
    setup: str


@dataclass(frozen=True)
class Candidate:
    """One ICE candidate (XEP-0176 §5.2 attributes)."""

    foundation: str
    component: int
    protocol: str
    priority: int
    ip: str
    port: int
    type: str
    generation: int = 0
    id: str = ""
    rel_addr: str | None = None
    rel_port: int | None = None


@dataclass(frozen=True)
class DataChannelTransport:
    """Everything one side tells the other about its end of the data channel."""

    ufrag: str | None = None
    pwd: str | None = None
    fingerprint: Fingerprint | None = None
    sctp_port: int | None = None
    max_message_size: int | None = None
    ice_options: tuple[str, ...] = ()
    candidates: tuple[Candidate, ...] = field(default=())


def build_transport(transport: DataChannelTransport) -> ET.Element:
    """The element for session-initiate/-accept, transport-replace/-accept or transport-info."""
    outer = ET.Element(TRANSPORT_TAG)
    if transport.sctp_port is not None:
        outer.set("sctp-port", str(transport.sctp_port))
    if transport.max_message_size is not None:
        outer.set("max-message-size", str(transport.max_message_size))
    ice = ET.SubElement(outer, _ICE_TAG)
    if transport.ufrag is not None:
        ice.set("ufrag", transport.ufrag)
    if transport.pwd is not None:
        ice.set("pwd", transport.pwd)
    if transport.fingerprint is not None:
        fingerprint = transport.fingerprint
        attributes = {"hash": fingerprint.hash, "setup": fingerprint.setup}
        ET.SubElement(ice, _FINGERPRINT_TAG, attributes).text = fingerprint.value
    for option in transport.ice_options:
        ET.SubElement(ice, f"{{{NS_ICE_OPTION}}}{option}")
    for candidate in transport.candidates:
        ET.SubElement(ice, _CANDIDATE_TAG, _candidate_attributes(candidate))
    return outer


def _candidate_attributes(candidate: Candidate) -> dict[str, str]:
    attributes = {
        "component": str(candidate.component),
        "foundation": candidate.foundation,
        "generation": str(candidate.generation),
        "id": candidate.id,
        "ip": candidate.ip,
        "port": str(candidate.port),
        "priority": str(candidate.priority),
        "protocol": candidate.protocol,
        "type": candidate.type,
    }
    if candidate.rel_addr is not None:
        attributes["rel-addr"] = candidate.rel_addr
    if candidate.rel_port is not None:
        attributes["rel-port"] = str(candidate.rel_port)
    return attributes


def parse_transport(element: ET.Element) -> DataChannelTransport:
    """Read the peer's element; ProtocolError (``bad-request``) when anything is malformed.

    Absent parts stay ``None`` or empty: a transport-info carries only credentials and
    candidates, session-level checks are the caller's (:func:`require_complete`).
    """
    if element.tag != TRANSPORT_TAG:
        raise ProtocolError(f"expected a WebRTC data-channel <transport/>, got {element.tag}")
    sctp_port = _optional_int(element.get("sctp-port"), "sctp-port", 65535)
    max_message_size = _optional_int(element.get("max-message-size"), "max-message-size")
    ice = element.find(_ICE_TAG)
    if ice is None:
        return DataChannelTransport(sctp_port=sctp_port, max_message_size=max_message_size)
    candidates = [_parse_candidate(child) for child in ice.findall(_CANDIDATE_TAG)]
    if len(candidates) > MAX_CANDIDATES:
        raise ProtocolError(f"more than {MAX_CANDIDATES} ICE candidates in one element")
    options = tuple(
        name
        for child in ice
        if child.tag.startswith(f"{{{NS_ICE_OPTION}}}")
        and (name := child.tag.partition("}")[2]) in ICE_OPTIONS
    )
    fingerprint = ice.find(_FINGERPRINT_TAG)
    return DataChannelTransport(
        ufrag=_optional_token(ice.get("ufrag"), "ufrag"),
        pwd=_optional_token(ice.get("pwd"), "pwd"),
        fingerprint=_parse_fingerprint(fingerprint) if fingerprint is not None else None,
        sctp_port=sctp_port,
        max_message_size=max_message_size,
        ice_options=options,
        candidates=tuple(candidates),
    )


def require_complete(transport: DataChannelTransport) -> DataChannelTransport:
    """The peer's offer or answer: it must have ICE credentials and a DTLS fingerprint."""
    if transport.ufrag is None or transport.pwd is None:
        raise ProtocolError("the data-channel transport has no ICE ufrag and pwd")
    if transport.fingerprint is None:
        raise ProtocolError("the data-channel transport has no DTLS fingerprint")
    return transport


def _parse_fingerprint(element: ET.Element) -> Fingerprint:
    hash_name = _token(element.get("hash"), "fingerprint hash").lower()
    setup = element.get("setup")
    if setup not in SETUPS:
        raise ProtocolError(f"DTLS setup {setup!r} is not one of {', '.join(SETUPS)}")
    value = (element.text or "").strip()
    if not _FINGERPRINT.fullmatch(value):
        raise ProtocolError("the DTLS fingerprint is not colon-separated hex")
    return Fingerprint(hash_name, value.upper(), setup)


def _parse_candidate(element: ET.Element) -> Candidate:
    kind = element.get("type")
    if kind not in CANDIDATE_TYPES:
        raise ProtocolError(f"ICE candidate type {kind!r} is not one of {CANDIDATE_TYPES}")
    rel_port = element.get("rel-port")
    return Candidate(
        foundation=_token(element.get("foundation"), "foundation"),
        component=_int(element.get("component"), "component", 256),
        protocol=_token(element.get("protocol"), "protocol").lower(),
        priority=_int(element.get("priority"), "priority", 2**32 - 1),
        ip=_address(element.get("ip"), "ip"),
        port=_int(element.get("port"), "port", 65535),
        type=kind,
        generation=_optional_int(element.get("generation"), "generation") or 0,
        id=element.get("id") or "",
        rel_addr=_optional_address(element.get("rel-addr"), "rel-addr"),
        rel_port=_optional_int(rel_port, "rel-port", 65535),
    )


def _token(value: str | None, name: str) -> str:
    if value is None or not _TOKEN.fullmatch(value):
        raise ProtocolError(f"ICE {name} is missing or not a plain token")
    return value


def _optional_token(value: str | None, name: str) -> str | None:
    return None if value is None else _token(value, name)


def _address(value: str | None, name: str) -> str:
    """An IP address, or an mDNS name (``<uuid>.local``, which ICE agents resolve)."""
    token = _token(value, name)
    if _MDNS_NAME.fullmatch(token):
        return token
    try:
        return str(ipaddress.ip_address(token))
    except ValueError:
        raise ProtocolError(f"ICE {name} {token!r} is not an IP address") from None


def _optional_address(value: str | None, name: str) -> str | None:
    return None if value is None else _address(value, name)


def _int(value: str | None, name: str, limit: int = 2**31 - 1) -> int:
    if value is None or not _DECIMAL.fullmatch(value) or int(value) > limit:
        raise ProtocolError(f"{name} {value!r} is not a number up to {limit}")
    return int(value)


def _optional_int(value: str | None, name: str, limit: int = 2**31 - 1) -> int | None:
    return None if value is None else _int(value, name, limit)
