"""Wire formats of Jingle IBB: the ``<transport/>`` element, block-size negotiation, base64 blocks.

Pure functions over ``xml.etree`` elements and strings, no I/O, so every rule about what the
peer may send is unit-tested without a server. The XEP-0047 ``<open/>``/``<data/>``/``<close/>``
stanza classes themselves are slixmpp's (:func:`register_stanzas`).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from slixmpp import Iq
from slixmpp.plugins.xep_0047.stanza import Close, Data, Open
from slixmpp.xmlstream import register_stanza_plugin

from ...errors import ProtocolError, Reason
from .sequence import SEQ_MODULUS

NS_JINGLE_IBB = "urn:xmpp:jingle:transports:ibb:1"
NS_IBB = "http://jabber.org/protocol/ibb"
TRANSPORT_TAG = f"{{{NS_JINGLE_IBB}}}transport"

MAX_BLOCK_SIZE = 65535
"""XEP-0047 §2.1: block-size is an unsigned 16-bit value."""

_NMTOKEN = re.compile(r"[\w.:\-]+")
_DECIMAL = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True)
class IbbParameters:
    """The negotiable parameters of one IBB session: its sid and block-size."""

    sid: str
    block_size: int


def new_sid() -> str:
    """A fresh, unguessable IBB sid (an XML NMTOKEN, as XEP-0047 §2.1 requires)."""
    return secrets.token_urlsafe(12)


def build_transport(parameters: IbbParameters) -> ET.Element:
    """``<transport xmlns='urn:xmpp:jingle:transports:ibb:1' block-size sid stanza='iq'/>``."""
    return ET.Element(
        TRANSPORT_TAG,
        {"block-size": str(parameters.block_size), "sid": parameters.sid, "stanza": "iq"},
    )


def parse_transport(element: ET.Element) -> IbbParameters:
    """Read the peer's ``<transport/>``; refuse anything malformed or not carried by IQs."""
    if element.tag != TRANSPORT_TAG:
        raise ProtocolError(f"expected an IBB <transport/>, got {element.tag}")
    check_stanza_kind(element.get("stanza"))
    return IbbParameters(
        sid=parse_sid(element.get("sid")),
        block_size=parse_block_size(element.get("block-size")),
    )


def parse_sid(value: str | None) -> str:
    """An IBB sid must be present and an XML NMTOKEN."""
    if not value:
        raise ProtocolError("IBB transport has no sid")
    if not _NMTOKEN.fullmatch(value):
        raise ProtocolError(f"IBB sid {value!r} is not an NMTOKEN")
    return value


def parse_block_size(value: str | None) -> int:
    """A block-size must be a plain decimal number from 1 to 65535."""
    if value is None:
        raise ProtocolError("IBB block-size is missing")
    if not _DECIMAL.fullmatch(value):
        raise ProtocolError(f"IBB block-size {value!r} is not a decimal number")
    size = int(value)
    if not 1 <= size <= MAX_BLOCK_SIZE:
        raise ProtocolError(f"IBB block-size {size} is outside 1..{MAX_BLOCK_SIZE}")
    return size


def check_stanza_kind(value: str | None) -> None:
    """Only IQ-carried IBB is supported: ``message`` gives no per-block acknowledgement."""
    if value in (None, "iq"):
        return
    if value == "message":
        raise ProtocolError(
            "IBB over <message/> stanzas is not supported, only stanza='iq'",
            condition="feature-not-implemented",
            reason=Reason.INCOMPATIBLE_PARAMETERS,
        )
    raise ProtocolError(f"IBB stanza kind {value!r} is neither 'iq' nor 'message'")


def answer_offer(offer: IbbParameters, max_block_size: int) -> IbbParameters:
    """The responder's answer: the offered sid, the block-size lowered to what we accept."""
    return IbbParameters(sid=offer.sid, block_size=min(offer.block_size, max_block_size))


def accept_answer(ours: IbbParameters, answer: IbbParameters) -> IbbParameters:
    """The offerer's view after the answer: same sid, the smaller of the two block-sizes."""
    if answer.sid != ours.sid:
        raise ProtocolError(f"IBB answer names sid {answer.sid!r}, we offered {ours.sid!r}")
    return IbbParameters(sid=ours.sid, block_size=min(ours.block_size, answer.block_size))


def encode_block(block: bytes | memoryview) -> str:
    """Base64 text of one block, padded, as ``<data/>`` carries it."""
    return base64.b64encode(block).decode("ascii")


def decode_block(text: str | None) -> bytes:
    """Strictly decode a ``<data/>`` payload (XEP-0047 §6).

    Only the base64 alphabet, padding only at the end, canonical encoding; surrounding XML
    whitespace is tolerated. Anything else raises :class:`ProtocolError` (``bad-request``).
    """
    stripped = (text or "").strip()
    try:
        block = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ProtocolError(f"IBB data is not valid base64: {error}") from None
    if encode_block(block) != stripped:
        raise ProtocolError("IBB data is not canonical base64")
    return block


def parse_seq(value: str | None) -> int:
    """A ``seq`` attribute: a decimal number from 0 to 65535."""
    if value is None or not _DECIMAL.fullmatch(value) or int(value) >= SEQ_MODULUS:
        raise ProtocolError(f"IBB seq {value!r} is not a number from 0 to {SEQ_MODULUS - 1}")
    return int(value)


def register_stanzas() -> None:
    """Make ``iq['ibb_open']``, ``iq['ibb_data']`` and ``iq['ibb_close']`` available."""
    for stanza in (Open, Data, Close):
        register_stanza_plugin(Iq, stanza)
