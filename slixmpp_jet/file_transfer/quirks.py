"""Known quirks of deployed peers, chosen for them by the software they report (XEP-0092).

Libervia (0.9) decrypts a true XEP-0396 key transport element wrongly and cannot parse standard
XEP-0300 hashes: it gets the OMEMO message-with-payload form and hex-digest checksums. Every
choice is logged; ``xep_0234``'s ``detect_peer_quirks = False`` turns detection off (the
explicit ``use_payload_form`` / ``use_hex_checksum`` calls still work).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable
from xml.etree import ElementTree as ET

from slixmpp.basexmpp import BaseXMPP
from slixmpp.exceptions import IqError, IqTimeout

NS_VERSION = "jabber:iq:version"
ASK_TIMEOUT = 5.0
LIBERVIA_NAMES = frozenset({"libervia", "salut à toi"})


@runtime_checkable
class PayloadFormChoice(Protocol):
    """An envelope that can send a peer the message-with-payload form (our OMEMO envelope)."""

    def use_payload_form(self, bare_jid: str, enabled: bool = True) -> None: ...


async def software_of(xmpp: BaseXMPP, peer: str) -> str | None:
    """The software name ``peer`` reports, or ``None`` if it does not say."""
    iq = xmpp.make_iq_get(queryxmlns=NS_VERSION, ito=peer)
    try:
        answer = await iq.send(timeout=ASK_TIMEOUT)
    except (IqError, IqTimeout):
        return None
    name = answer.xml.find(f"{{{NS_VERSION}}}query/{{{NS_VERSION}}}name")
    return name.text.strip() if isinstance(name, ET.Element) and name.text else None


def is_libervia(software: str | None) -> bool:
    return software is not None and software.casefold() in LIBERVIA_NAMES
