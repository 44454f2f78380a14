"""ICE servers (STUN and TURN) from the account's server: XEP-0215 external service discovery.

The client asks its server for ``<services xmlns='urn:xmpp:extdisco:2'/>``. Prosody answers
from ``mod_external_services`` (fed by ``mod_turn_external``): one ``<service/>`` per type and
transport, the TURN ones ``restricted='1'`` with short-lived credentials already in them
(TURN REST: username ``<expiry unix time>[:<user>]``, password base64 HMAC-SHA1 of it under a
secret shared with the TURN server) and ``expires``. A restricted service that comes without
credentials is asked for them with ``<credentials/>`` (XEP-0215 §3.3).

Parsing and conversion are sans-I/O (:func:`parse_services`, :func:`credentials_request`,
:func:`with_credentials`, :func:`ice_servers`); :func:`discover_ice_servers` is the thin query
around them. Entries that are malformed (no host, bad port, unknown transport, bad date) are
left out with a log line; the others are kept.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from slixmpp import BaseXMPP
from slixmpp.exceptions import IqError, IqTimeout

log = logging.getLogger(__name__)

EXTDISCO = "urn:xmpp:extdisco:2"

_PORT = re.compile(r"[0-9]{1,5}")
_HOSTNAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?")
_TRANSPORTS = frozenset({"udp", "tcp"})
_BOOLEANS = {"1": True, "true": True, "0": False, "false": False}


@dataclass(frozen=True)
class IceServer:
    """One STUN or TURN server as WebRTC describes it (``RTCIceServer``): URIs of RFC 7064
    and RFC 7065, and the TURN credentials."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


class ServiceType(enum.Enum):
    """The XEP-0215 service types that ICE uses."""

    STUN = "stun"
    TURN = "turn"
    TURNS = "turns"


@dataclass(frozen=True)
class ExternalService:
    """A well-formed ``<service/>`` of type stun, turn or turns (``port``/``transport``
    ``None`` when the server left them out)."""

    type: ServiceType
    host: str
    port: int | None = None
    transport: str | None = None
    username: str | None = None
    password: str | None = None
    expires: datetime | None = None
    restricted: bool = False

    @property
    def needs_credentials(self) -> bool:
        """A restricted TURN service whose credentials were not given: ask for them
        (XEP-0215 §3.3)."""
        return (
            self.restricted
            and self.type is not ServiceType.STUN
            and (self.username is None or self.password is None)
        )


class _Malformed(ValueError):
    """A ``<service/>`` attribute that cannot be used."""


def parse_services(payload: ET.Element) -> list[ExternalService]:
    """The usable services in a ``<services/>`` or ``<credentials/>`` payload, in order.

    Services of other types (``ftp``, ...) are skipped silently, malformed ones with a log
    line."""
    found = []
    for element in payload.iterfind(f"{{{EXTDISCO}}}service"):
        try:
            service = parse_service(element)
        except _Malformed as error:
            where = (element.get("type"), element.get("host"), element.get("port"))
            log.info("external service %s left out: %s", where, error)
            continue
        if service is not None:
            found.append(service)
    return found


def parse_service(element: ET.Element) -> ExternalService | None:
    """One ``<service/>``: ``None`` if its type is not one ICE uses; raises ``ValueError``
    if it is malformed."""
    try:
        kind = ServiceType(element.get("type", ""))
    except ValueError:
        return None
    return ExternalService(
        type=kind,
        host=_host(element.get("host")),
        port=_port(element.get("port")),
        transport=_transport(element.get("transport")),
        username=element.get("username") or None,
        password=element.get("password") or None,
        expires=_expires(element.get("expires")),
        restricted=_restricted(element.get("restricted")),
    )


def _host(text: str | None) -> str:
    if text is None:
        raise _Malformed("no host")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
            raise _Malformed("scoped address")
        return str(address)
    if not _HOSTNAME.fullmatch(text):
        raise _Malformed("bad host")
    return text


def _port(text: str | None) -> int | None:
    if text is None:
        return None
    if not _PORT.fullmatch(text) or not 0 < int(text) < 0x10000:
        raise _Malformed("bad port")
    return int(text)


def _transport(text: str | None) -> str | None:
    if text is None:
        return None
    if text.lower() not in _TRANSPORTS:
        raise _Malformed("unknown transport")
    return text.lower()


def _expires(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _Malformed("bad expires") from None
    if moment.tzinfo is None:
        raise _Malformed("expires without a time zone")
    return moment


def _restricted(text: str | None) -> bool:
    if text is None:
        return False
    if text not in _BOOLEANS:
        raise _Malformed("bad restricted")
    return _BOOLEANS[text]


def credentials_request(services: Iterable[ExternalService]) -> ET.Element:
    """``<credentials/>`` asking for the credentials of ``services`` (type, host, port)."""
    request = ET.Element(f"{{{EXTDISCO}}}credentials")
    for service in services:
        attributes = {"type": service.type.value, "host": service.host}
        if service.port is not None:
            attributes["port"] = str(service.port)
        ET.SubElement(request, f"{{{EXTDISCO}}}service", attributes)
    return request


def with_credentials(
    services: Iterable[ExternalService], answered: Iterable[ExternalService]
) -> list[ExternalService]:
    """``services`` with the credentials the ``<credentials/>`` answer gave each one that
    needed them: the first answer of the same type and host whose port and transport, where
    given, match."""
    answers = [answer for answer in answered if answer.username and answer.password]
    completed = []
    for service in services:
        match = None
        if service.needs_credentials:
            match = next((answer for answer in answers if _same(service, answer)), None)
        if match is not None:
            service = dataclasses.replace(
                service,
                username=match.username,
                password=match.password,
                expires=match.expires or service.expires,
            )
        completed.append(service)
    return completed


def _same(service: ExternalService, answer: ExternalService) -> bool:
    return (
        answer.type is service.type
        and answer.host == service.host
        and answer.port in (None, service.port)
        and answer.transport in (None, service.transport)
    )


def ice_servers(services: Iterable[ExternalService], now: datetime) -> list[IceServer]:
    """The ICE servers for ``services``, in the server's order and without repeats.

    TURN services without credentials, or whose credentials expired by ``now``, are left
    out; STUN needs none and gets none."""
    servers: list[IceServer] = []
    for service in services:
        if service.type is ServiceType.STUN:
            server = IceServer((_uri(service),))
        elif service.username is None or service.password is None:
            log.info("TURN server %s left out: no credentials", service.host)
            continue
        elif service.expires is not None and service.expires <= now:
            log.info("TURN server %s left out: its credentials expired", service.host)
            continue
        else:
            server = IceServer((_uri(service),), service.username, service.password)
        if server not in servers:
            servers.append(server)
    return servers


def _uri(service: ExternalService) -> str:
    """RFC 7064/7065 URI; the port made explicit (3478, or 5349 for turns); a STUN URI
    carries no transport."""
    host = f"[{service.host}]" if ":" in service.host else service.host
    port = service.port or (5349 if service.type is ServiceType.TURNS else 3478)
    uri = f"{service.type.value}:{host}:{port}"
    if service.type is not ServiceType.STUN and service.transport is not None:
        uri += f"?transport={service.transport}"
    return uri


async def ask_server(xmpp: BaseXMPP, request: ET.Element, timeout: float) -> list[ExternalService]:
    """Send ``request`` (``<services/>`` or ``<credentials/>``) to the account's server and
    parse its answer; ``[]`` on an error or no answer."""
    iq = xmpp.make_iq_get(ito=xmpp.boundjid.domain)
    iq.xml.append(request)
    try:
        result = await iq.send(timeout=timeout)
    except IqError as error:
        log.info("no external services from the server: %s", error.condition)
        return []
    except IqTimeout:
        log.info("no external services from the server: no answer")
        return []
    payload = result.xml.find(request.tag)
    return [] if payload is None else parse_services(payload)


async def discover_ice_servers(xmpp: BaseXMPP, timeout: float = 10.0) -> list[IceServer]:
    """The STUN and TURN servers the account's server announces (XEP-0215), with TURN
    credentials; ``[]`` when it has none, answers with an error or does not answer."""
    services = await ask_server(xmpp, ET.Element(f"{{{EXTDISCO}}}services"), timeout)
    missing = [service for service in services if service.needs_credentials]
    if missing:
        answered = await ask_server(xmpp, credentials_request(missing), timeout)
        services = with_credentials(services, answered)
    return ice_servers(services, datetime.now(UTC))
