"""SDP munging: our WebRTC stack speaks SDP, Jingle speaks :class:`~.stanza.DataChannelTransport`.

Pure functions over strings. :func:`local_transport` reads the one ``m=application`` section of
the SDP our peer connection made; :func:`remote_sdp` writes the peer's element as the SDP the
peer connection takes, the way Conversations turns an element into SDP (hard-coded port 9,
``c=IN IP4 0.0.0.0``, ``UDP/DTLS/SCTP webrtc-datachannel``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...errors import ProtocolError
from .stanza import ICE_OPTIONS, Candidate, DataChannelTransport, Fingerprint

DEFAULT_SCTP_PORT = 5000
DEFAULT_MAX_MESSAGE_SIZE = 65536
"""RFC 8841 §6: what a peer that announces no ``max-message-size`` can take."""
FINGERPRINT_HASH = "sha-256"


@dataclass(frozen=True)
class LocalDescription:
    """What our SDP says: the element to send (without candidates), the candidates, the mid."""

    transport: DataChannelTransport
    candidates: tuple[Candidate, ...]
    mid: str


def local_transport(sdp: str) -> LocalDescription:
    """Read our peer connection's SDP (offer or answer)."""
    attributes: dict[str, list[str]] = {}
    for line in sdp.splitlines():
        if line.startswith("a="):
            name, _, value = line[2:].partition(":")
            attributes.setdefault(name, []).append(value.strip())
    fingerprints = dict(value.split(" ", 1) for value in attributes.get("fingerprint", []))
    setup = _first(attributes, "setup")
    fingerprint = Fingerprint(FINGERPRINT_HASH, fingerprints[FINGERPRINT_HASH], setup)
    options = tuple(
        option
        for value in attributes.get("ice-options", [])
        for option in value.split()
        if option in ICE_OPTIONS
    )
    transport = DataChannelTransport(
        ufrag=_first(attributes, "ice-ufrag"),
        pwd=_first(attributes, "ice-pwd"),
        fingerprint=fingerprint,
        sctp_port=int(_first(attributes, "sctp-port")),
        max_message_size=int(_first(attributes, "max-message-size")),
        ice_options=("trickle", *(option for option in options if option != "trickle")),
    )
    candidates = tuple(candidate_from_sdp(value) for value in attributes.get("candidate", []))
    return LocalDescription(transport, candidates, _first(attributes, "mid"))


def _first(attributes: dict[str, list[str]], name: str) -> str:
    values = attributes.get(name)
    if not values:
        raise ValueError(f"our own SDP has no a={name}")
    return values[0]


def remote_sdp(transport: DataChannelTransport, mid: str) -> str:
    """The peer's complete element as an SDP offer or answer (its ``setup`` says which)."""
    if transport.ufrag is None or transport.pwd is None or transport.fingerprint is None:
        raise ProtocolError("the data-channel transport has no ICE credentials or fingerprint")
    fingerprint = transport.fingerprint
    sctp_port = transport.sctp_port or DEFAULT_SCTP_PORT
    max_message_size = transport.max_message_size or DEFAULT_MAX_MESSAGE_SIZE
    lines = [
        "v=0",
        "o=- 0 0 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        f"a=group:BUNDLE {mid}",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        f"a=mid:{mid}",
        f"a=sctp-port:{sctp_port}",
        f"a=max-message-size:{max_message_size}",
        f"a=ice-ufrag:{transport.ufrag}",
        f"a=ice-pwd:{transport.pwd}",
        f"a=ice-options:{' '.join(transport.ice_options or ('trickle',))}",
        f"a=fingerprint:{fingerprint.hash} {fingerprint.value}",
        f"a=setup:{fingerprint.setup}",
        *(f"a={candidate_to_sdp(candidate)}" for candidate in transport.candidates),
    ]
    return "\r\n".join(lines) + "\r\n"


def candidate_to_sdp(candidate: Candidate) -> str:
    """``candidate:<foundation> <component> udp <priority> <ip> <port> typ <type> ...``."""
    parts = [
        f"candidate:{candidate.foundation}",
        str(candidate.component),
        candidate.protocol,
        str(candidate.priority),
        candidate.ip,
        str(candidate.port),
        "typ",
        candidate.type,
    ]
    if candidate.rel_addr is not None:
        parts += ["raddr", candidate.rel_addr]
    if candidate.rel_port is not None:
        parts += ["rport", str(candidate.rel_port)]
    parts += ["generation", str(candidate.generation)]
    return " ".join(parts)


def candidate_from_sdp(value: str) -> Candidate:
    """The value of an ``a=candidate:`` line (with or without the ``candidate:`` prefix)."""
    fields = value.removeprefix("candidate:").split()
    if len(fields) < 8 or fields[6] != "typ":
        raise ValueError(f"not an ICE candidate line: {value!r}")
    extra = dict(zip(fields[8::2], fields[9::2], strict=False))
    rel_port = extra.get("rport")
    return Candidate(
        foundation=fields[0],
        component=int(fields[1]),
        protocol=fields[2].lower(),
        priority=int(fields[3]),
        ip=fields[4],
        port=int(fields[5]),
        type=fields[7],
        generation=int(extra.get("generation", "0")),
        rel_addr=extra.get("raddr"),
        rel_port=int(rel_port) if rel_port is not None else None,
    )


def with_ids(candidates: tuple[Candidate, ...], prefix: str) -> tuple[Candidate, ...]:
    """``candidates`` numbered ``<prefix>-1``, ``<prefix>-2``, ... (XEP-0176 ``id``)."""
    return tuple(
        replace(candidate, id=f"{prefix}-{number}")
        for number, candidate in enumerate(candidates, 1)
    )
