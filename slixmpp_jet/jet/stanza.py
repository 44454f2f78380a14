"""The ``<security xmlns='urn:xmpp:jingle:jet:0'/>`` element of a Jingle content (XEP-0391 §4).

It names the stream cipher and the envelope method, and wraps the envelope element that
carries the sealed transport secret. Built strictly, parsed leniently: peers differ in
whether they send ``name`` and in how they spell the cipher URI.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree as ET

from slixmpp_jet.errors import ProtocolError
from slixmpp_jet.jet.ciphers import Cipher, cipher_for_uri

NS_JET = "urn:xmpp:jingle:jet:0"
"""Namespace of ``<security/>``, and the disco feature of JET itself."""
FEATURE_JET_OMEMO = "urn:xmpp:jingle:jet-omemo:0"
"""Disco feature of the OMEMO envelope (XEP-0396)."""

SECURITY_TAG = f"{{{NS_JET}}}security"


@dataclass(frozen=True)
class SecurityInfo:
    """What a peer's ``<security/>`` says."""

    name: str | None
    """The content name it applies to; ``None`` when the peer left it out (Dino does)."""
    cipher: Cipher
    type: str
    """The envelope method: the namespace of the envelope element."""
    envelope: ET.Element
    """The envelope element (EE) that carries the sealed transport secret."""


def build_security(
    name: str, cipher_uri: str, envelope_type: str, envelope_element: ET.Element
) -> ET.Element:
    """Our ``<security/>`` for the content ``name``, wrapping ``envelope_element``.

    Raises :class:`~slixmpp_jet.errors.SecurityError` if ``cipher_uri`` is not a JET cipher.
    """
    cipher_for_uri(cipher_uri)
    security = ET.Element(SECURITY_TAG, {"name": name, "cipher": cipher_uri, "type": envelope_type})
    security.append(envelope_element)
    return security


def parse_security(content: ET.Element) -> SecurityInfo | None:
    """The ``<security/>`` of a Jingle ``<content/>``, or ``None`` if it has none.

    Raises :class:`~slixmpp_jet.errors.ProtocolError` (``bad-request``) when it is malformed,
    and :class:`~slixmpp_jet.errors.SecurityError` when it names a cipher we do not support.
    """
    found = content.findall(SECURITY_TAG)
    if len(found) > 1:
        raise ProtocolError("a content carries more than one JET <security/> element")
    return read_security(found[0] if found else None, content.get("name"))


def read_security(security: ET.Element | None, content_name: str | None) -> SecurityInfo | None:
    """What the ``<security/>`` child of the content ``content_name`` says (already taken out
    of the content by the Jingle parser); ``None`` if it is absent or not JET's."""
    if security is None or security.tag != SECURITY_TAG:
        return None
    name = security.get("name")
    if name is not None and name != content_name:
        raise ProtocolError(
            f"JET <security/> names content {name!r} but sits in content {content_name!r}"
        )
    cipher_uri = security.get("cipher")
    envelope_type = security.get("type")
    if not cipher_uri or not envelope_type:
        raise ProtocolError("JET <security/> needs both a 'cipher' and a 'type' attribute")
    children = list(security)
    if len(children) != 1:
        raise ProtocolError(
            f"JET <security/> must wrap exactly one envelope element, not {len(children)}"
        )
    return SecurityInfo(
        name=name, cipher=cipher_for_uri(cipher_uri), type=envelope_type, envelope=children[0]
    )
