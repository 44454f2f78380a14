"""SOCKS5 candidates as values: their type, priority and the DST.ADDR that reaches them.

XEP-0260 §2.2 ranks candidates by ``priority = 2^16 * type_preference + local_preference`` and
identifies a bytestream at a SOCKS5 server by ``DST.ADDR = hex(SHA-1(sid + owner + other))``,
where *owner* is the full JID of the party that offered the candidate.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass

from slixmpp import JID

MAX_LOCAL_PREFERENCE = 0xFFFF


@enum.unique
class CandidateType(enum.Enum):
    """How a candidate reaches its owner (XEP-0260 §2.2 "Defined Types")."""

    DIRECT = "direct"
    ASSISTED = "assisted"
    TUNNEL = "tunnel"
    PROXY = "proxy"

    @property
    def preference(self) -> int:
        """The type preference XEP-0260 suggests for this type."""
        return _TYPE_PREFERENCE[self]


_TYPE_PREFERENCE = {
    CandidateType.DIRECT: 126,
    CandidateType.ASSISTED: 120,
    CandidateType.TUNNEL: 110,
    CandidateType.PROXY: 10,
}


def candidate_priority(kind: CandidateType, local_preference: int) -> int:
    """``2^16 * type preference + local preference``; the local preference is 0..65535."""
    if not 0 <= local_preference <= MAX_LOCAL_PREFERENCE:
        raise ValueError(f"local preference {local_preference} is outside 0..65535")
    return (kind.preference << 16) + local_preference


@dataclass(frozen=True)
class Candidate:
    """One way to reach a SOCKS5 server: our listener, the peer's, or a proxy."""

    cid: str
    host: str
    port: int
    jid: str
    """The streamhost's JID: the owner's full JID for direct candidates, else the proxy's."""
    type: CandidateType
    priority: int

    @property
    def endpoint(self) -> tuple[str, int]:
        """``(host, port)``: what two candidates must not share (XEP-0260 §2.2)."""
        return (self.host, self.port)


def new_id() -> str:
    """A fresh random identifier for a candidate (``cid``) or a bytestream (``sid``)."""
    return secrets.token_hex(8)


def dstaddr(sid: str, owner: str, other: str) -> str:
    """The SOCKS5 DST.ADDR for a candidate ``owner`` offered to ``other`` (both full JIDs).

    JIDs are normalized first (XEP-0065 §5.3.2), so equal JIDs give equal addresses.
    """
    text = sid + _normalized(owner) + _normalized(other)
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _normalized(jid: str) -> str:
    return str(JID(jid))
