"""Our candidates: listeners on the addresses the user allows, then proxies.

Offering an address reveals it to the peer (XEP-0260 §6.1), so only the addresses the
plugin configuration allows are used; by default, this host's own addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection, Iterable

from .candidates import MAX_LOCAL_PREFERENCE, Candidate, CandidateType, candidate_priority, new_id
from .listener import DirectListener, Endpoint
from .proxy import StreamHost

LOOPBACK = "127.0.0.1"
_ROUTE_PROBES = ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1"))
"""Documentation addresses: connecting a UDP socket to one sends nothing but picks the
source address the default route would use."""


async def host_addresses() -> list[str]:
    """This host's addresses, best first: default-route IPv4 and IPv6, the host name's, then
    IPv4 loopback (last, as only a peer on this host can use it)."""
    found = []
    for family, probe in _ROUTE_PROBES:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                udp.connect((probe, 9))
                found.append(str(udp.getsockname()[0]))
        except OSError:
            continue
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            socket.gethostname(), None, type=socket.SOCK_STREAM
        )
    except OSError:
        infos = []
    found.extend(str(info[4][0]) for info in infos)
    return [address for address in dict.fromkeys(found) if _offerable(address)] + [LOOPBACK]


def _offerable(address: str) -> bool:
    """Whether a peer elsewhere could reach ``address`` (loopback and link-local cannot)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # e.g. a link-local address with a %scope suffix
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


async def gather(
    listener: DirectListener,
    *,
    owner: str,
    addresses: Iterable[str],
    port_range: tuple[int, int] | None,
    proxies: Iterable[StreamHost],
    taken: Collection[Endpoint],
) -> list[Candidate]:
    """Listen on each address and list the candidates, best first.

    ``owner`` is our full JID (the jid of direct candidates). Endpoints in ``taken`` (offered
    by the initiator) are never offered again (XEP-0260 §2.2). Within a type, earlier
    addresses and proxies get the higher local preference.
    """
    candidates = []
    endpoints = [await listener.listen(address, port_range) for address in addresses]
    bound = [endpoint for endpoint in endpoints if endpoint is not None]
    for rank, (host, port) in enumerate(bound):
        candidates.append(_candidate(host, port, owner, CandidateType.DIRECT, rank))
    for rank, proxy in enumerate(proxies):
        candidates.append(_candidate(proxy.host, proxy.port, proxy.jid, CandidateType.PROXY, rank))
    return [candidate for candidate in candidates if candidate.endpoint not in taken]


def _candidate(host: str, port: int, jid: str, kind: CandidateType, rank: int) -> Candidate:
    local_preference = max(MAX_LOCAL_PREFERENCE - rank, 0)
    return Candidate(new_id(), host, port, jid, kind, candidate_priority(kind, local_preference))
