"""XEP-0215 external services to ICE servers: the XEP's examples and Prosody's answer in,
credentials asked for and merged, malformed entries left out without losing the rest."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slixmpp_jet.transports.webrtc.ice_servers import (
    EXTDISCO,
    ExternalService,
    IceServer,
    ServiceType,
    credentials_request,
    ice_servers,
    parse_services,
    with_credentials,
)

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)

# XEP-0215 §3.1, "XMPP Server Returns List"
XEP_SERVICES = f"""
<services xmlns='{EXTDISCO}'>
  <service host='stun.shakespeare.lit' port='9998' transport='udp' type='stun'/>
  <service host='relay.shakespeare.lit' password='jj929jkj5sadjfj93v3n' port='9999'
           transport='udp' type='turn' username='nb78932lkjlskjfdb7g8'/>
  <service host='192.0.2.1' port='8888' transport='udp' type='stun'/>
  <service host='192.0.2.1' port='8889' password='93jn3bakj9s832lrjbbz' transport='udp'
           type='turn' username='auu98sjl2wk3e9fjdsl7'/>
  <service host='ftp.shakespeare.lit' name='Shakespearean File Server' password='guest'
           port='20' transport='tcp' type='ftp' username='guest'/>
</services>
"""

# What Prosody 0.12's mod_turn_external (turn_external_tcp = true) answered in a test run
PROSODY_SERVICES = f"""
<services xmlns='{EXTDISCO}'>
  <service port='54335' host='127.0.0.1' transport='udp' type='stun'/>
  <service port='54335' host='127.0.0.1' transport='tcp' type='stun'/>
  <service restricted='1' expires='2026-12-03T09:48:15Z' port='54335' host='127.0.0.1'
           transport='udp' password='at0b6gh8xD9bgb5Hnv3TviVUkGY=' username='1796291295'
           type='turn'/>
  <service restricted='1' expires='2026-12-03T09:48:15Z' port='54335' host='127.0.0.1'
           transport='tcp' password='at0b6gh8xD9bgb5Hnv3TviVUkGY=' username='1796291295'
           type='turn'/>
</services>
"""

GOOD = "<service type='stun' host='stun.example' port='3478'/>"


def _services(*entries: str) -> ET.Element:
    return ET.fromstring(f"<services xmlns='{EXTDISCO}'>{''.join(entries)}</services>")


def _turn(**attributes: str) -> str:
    values = {"type": "turn", "host": "turn.example", "port": "3478", "transport": "udp"}
    values.update(attributes)
    return "<service " + " ".join(f"{k}='{v}'" for k, v in values.items()) + "/>"


def test_the_xep_example_gives_its_stun_and_turn_servers_and_skips_ftp() -> None:
    assert ice_servers(parse_services(ET.fromstring(XEP_SERVICES)), NOW) == [
        IceServer(("stun:stun.shakespeare.lit:9998",)),
        IceServer(
            ("turn:relay.shakespeare.lit:9999?transport=udp",),
            "nb78932lkjlskjfdb7g8",
            "jj929jkj5sadjfj93v3n",
        ),
        IceServer(("stun:192.0.2.1:8888",)),
        IceServer(
            ("turn:192.0.2.1:8889?transport=udp",), "auu98sjl2wk3e9fjdsl7", "93jn3bakj9s832lrjbbz"
        ),
    ]


def test_prosodys_answer_parses_into_restricted_turn_with_expiring_credentials() -> None:
    services = parse_services(ET.fromstring(PROSODY_SERVICES))
    assert [(s.type, s.transport) for s in services] == [
        (ServiceType.STUN, "udp"),
        (ServiceType.STUN, "tcp"),
        (ServiceType.TURN, "udp"),
        (ServiceType.TURN, "tcp"),
    ]
    turn = services[2]
    assert turn.restricted and not turn.needs_credentials
    assert turn.expires == datetime(2026, 12, 3, 9, 48, 15, tzinfo=UTC)
    assert (turn.host, turn.port, turn.username) == ("127.0.0.1", 54335, "1796291295")


def test_prosodys_answer_gives_one_stun_uri_and_turn_over_udp_then_tcp() -> None:
    credentials = ("1796291295", "at0b6gh8xD9bgb5Hnv3TviVUkGY=")
    assert ice_servers(parse_services(ET.fromstring(PROSODY_SERVICES)), NOW) == [
        IceServer(("stun:127.0.0.1:54335",)),  # a STUN URI has no transport: one, not two
        IceServer(("turn:127.0.0.1:54335?transport=udp",), *credentials),
        IceServer(("turn:127.0.0.1:54335?transport=tcp",), *credentials),
    ]


def test_turns_ipv6_and_default_ports() -> None:
    services = parse_services(
        _services(
            _turn(
                type="turns",
                host="turn.example",
                port="5350",
                transport="tcp",
                username="u",
                password="p",
            ),
            "<service type='turns' host='turn.example' username='u' password='p'/>",
            "<service type='stun' host='2001:db8::1'/>",
            "<service type='turn' host='turn.example' username='u' password='p'/>",
        )
    )
    assert [server.urls for server in ice_servers(services, NOW)] == [
        ("turns:turn.example:5350?transport=tcp",),
        ("turns:turn.example:5349",),
        ("stun:[2001:db8::1]:3478",),
        ("turn:turn.example:3478",),
    ]


def test_stun_gets_no_credentials_even_when_given_some_nor_asks_for_them() -> None:
    services = parse_services(
        _services(
            _turn(type="stun", username="u", password="p"), _turn(type="stun", restricted="1")
        )
    )
    assert not services[1].needs_credentials
    assert ice_servers(services, NOW) == [IceServer(("stun:turn.example:3478",))]


def test_turn_credentials_that_expired_are_left_out() -> None:
    services = parse_services(
        _services(
            _turn(username="old", password="p", expires="2026-12-02T09:59:59Z"),
            _turn(username="now", password="p", expires="2026-12-02T10:00:00Z"),
            _turn(username="new", password="p", expires="2026-12-02T11:00:00.5+01:00"),
            _turn(username="later", password="p", expires="2026-12-02T10:00:01Z"),
        )
    )
    assert [server.username for server in ice_servers(services, NOW)] == ["new", "later"]


def test_turn_without_credentials_is_left_out() -> None:
    services = parse_services(
        _services(
            _turn(), _turn(restricted="1"), _turn(username="u"), _turn(username="", password="p")
        )
    )
    assert ice_servers(services, NOW) == []


@pytest.mark.parametrize(
    ("text", "restricted"), [("1", True), ("true", True), ("0", False), ("false", False)]
)
def test_restricted_is_an_xml_boolean(text: str, restricted: bool) -> None:
    (service,) = parse_services(_services(_turn(restricted=text)))
    assert service.restricted is restricted
    assert service.needs_credentials is restricted


@pytest.mark.parametrize(
    "malformed",
    [
        _turn(port="0"),
        _turn(port="65536"),
        _turn(port="-1"),
        _turn(port=""),
        _turn(port="34 78"),
        _turn(port="٣٤٧٨"),  # Arabic-Indic digits: int() would take them
        "<service type='turn' port='3478'/>",
        _turn(host=""),
        _turn(host="turn example"),
        _turn(host="turn.example?transport=tcp"),
        _turn(host="[2001:db8::1]"),
        _turn(host="fe80::1%x?transport=tcp"),  # a zone would reach the URI
        _turn(transport="sctp"),
        _turn(restricted="yes"),
        _turn(expires="tomorrow"),
        _turn(expires="2026-12-03T09:48:15"),  # XEP-0082 wants UTC: no zone is not a time
    ],
)
def test_a_malformed_entry_is_left_out_and_the_rest_kept(malformed: str) -> None:
    services = parse_services(_services(GOOD, malformed, _turn(username="u", password="p")))
    assert [service.type for service in services] == [ServiceType.STUN, ServiceType.TURN]


def test_a_left_out_entry_is_logged_without_its_credentials(caplog) -> None:
    caplog.set_level(logging.INFO, "slixmpp_jet")
    assert parse_services(_services(_turn(port="0", username="alice7", password="s3cret"))) == []
    assert "bad port" in caplog.text and "turn.example" in caplog.text
    assert "s3cret" not in caplog.text and "alice7" not in caplog.text


def test_unknown_types_and_foreign_elements_are_skipped() -> None:
    services = parse_services(
        _services(
            "<service type='ftp' host='ftp.example' port='21'/>",
            "<service host='nothing.example'/>",
            "<service type='TURN' host='turn.example'/>",
            "<service xmlns='urn:xmpp:extdisco:1' type='stun' host='old.example'/>",
            GOOD,
        )
    )
    assert [service.host for service in services] == ["stun.example"]


def test_transport_is_case_insensitive() -> None:
    (service,) = parse_services(_services(_turn(transport="UDP")))
    assert service.transport == "udp"


def test_credentials_request_names_each_service_by_type_host_and_port() -> None:
    request = credentials_request(
        [
            ExternalService(ServiceType.TURN, "turn.example", 3478, "udp", restricted=True),
            ExternalService(ServiceType.TURNS, "turn.example", restricted=True),
        ]
    )
    assert request.tag == f"{{{EXTDISCO}}}credentials"
    assert [element.attrib for element in request] == [
        {"type": "turn", "host": "turn.example", "port": "3478"},
        {"type": "turns", "host": "turn.example"},
    ]
    assert all(element.tag == f"{{{EXTDISCO}}}service" for element in request)


def test_credentials_from_the_xep_answer_complete_a_restricted_service() -> None:
    restricted = ExternalService(
        ServiceType.TURN, "turn.shakespeare.lit", 9999, "udp", restricted=True
    )
    # XEP-0215 §3.3, "Server Returns Credentials": neither port nor transport
    answer = ET.fromstring(
        f"<credentials xmlns='{EXTDISCO}'><service host='turn.shakespeare.lit' type='turn'"
        " password='jj929jkj5sadjfj93v3n' username='nb78932lkjlskjfdb7g8'/></credentials>"
    )
    (completed,) = with_credentials([restricted], parse_services(answer))
    assert (completed.port, completed.transport) == (9999, "udp")
    assert ice_servers([completed], NOW) == [
        IceServer(
            ("turn:turn.shakespeare.lit:9999?transport=udp",),
            "nb78932lkjlskjfdb7g8",
            "jj929jkj5sadjfj93v3n",
        )
    ]


def test_credentials_go_only_to_the_service_they_answer() -> None:
    udp = ExternalService(ServiceType.TURN, "turn.example", 3478, "udp", restricted=True)
    tcp = ExternalService(ServiceType.TURN, "turn.example", 3478, "tcp", restricted=True)
    other = ExternalService(ServiceType.TURN, "other.example", 3478, "udp", restricted=True)
    given_credentials = ExternalService(ServiceType.TURN, "turn.example", 3478, "udp", "keep", "x")
    stun = ExternalService(ServiceType.STUN, "turn.example", 3478, "udp")
    expires = NOW + timedelta(hours=1)
    answered = [
        ExternalService(ServiceType.TURN, "turn.example", 3478, "tcp", "for-tcp", "p"),
        ExternalService(ServiceType.TURN, "turn.example", 3478, "udp", "for-udp", "p", expires),
        ExternalService(ServiceType.TURN, "turn.example", 3479, None, "wrong-port", "p"),
        ExternalService(ServiceType.TURNS, "other.example", None, None, "wrong-type", "p"),
    ]
    completed = with_credentials([udp, tcp, other, given_credentials, stun], answered)
    assert [service.username for service in completed] == ["for-udp", "for-tcp", None, "keep", None]
    assert completed[0].expires == expires


def test_an_answer_without_credentials_completes_nothing() -> None:
    restricted = ExternalService(ServiceType.TURN, "turn.example", 3478, "udp", restricted=True)
    answered = [ExternalService(ServiceType.TURN, "turn.example", 3478, "udp", restricted=True)]
    assert with_credentials([restricted], answered) == [restricted]


_ATTRIBUTES = st.sampled_from(
    ["type", "host", "port", "transport", "username", "password", "expires", "restricted"]
)
_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["stun", "turn", "turns", "udp", "tcp", "1", "0", "3478", "127.0.0.1"]),
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(_ATTRIBUTES, _VALUES), max_size=6))
def test_any_attributes_are_parsed_or_skipped_never_raised(entries: list[dict[str, str]]) -> None:
    payload = ET.Element(f"{{{EXTDISCO}}}services")
    for attributes in entries:
        ET.SubElement(payload, f"{{{EXTDISCO}}}service", attributes)
    services = parse_services(payload)
    assert len(services) <= len(entries)
    for server in ice_servers(services, NOW):
        assert server.urls[0].split(":", 1)[0] in {"stun", "turn", "turns"}
