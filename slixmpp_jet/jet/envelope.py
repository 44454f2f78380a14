"""The envelope interface: seals a transport secret for the peer and opens the peer's.

An envelope is the end-to-end method (OMEMO, OpenPGP) that protects the JET transport secret
(XEP-0391 §3). Implementations: :mod:`slixmpp_jet.jet.omemo`, :mod:`slixmpp_jet.jet.openpgp`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import ClassVar
from xml.etree import ElementTree as ET


@dataclass(frozen=True)
class TransportSecret:
    """TK and IV of XEP-0391. ``repr`` never shows them, so they cannot reach a log."""

    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"TransportSecret(<{len(self.key)}-byte key>, <{len(self.iv)}-byte iv>)"


@dataclass(frozen=True)
class EnvelopeContext:
    """Who seals for whom, in which Jingle session."""

    sid: str
    """The Jingle session id (binds the secret to this session where the envelope can)."""
    sender: str
    """Full JID of the party that seals the secret: always the Jingle initiator."""
    recipient: str
    """Full JID of the party that opens it: the Jingle responder."""


@dataclass(frozen=True)
class OpenedSecret:
    """A secret taken out of a verified envelope, and who sealed it."""

    secret: TransportSecret
    sender_identity: str
    """What authenticated the sender, for the user: an OMEMO device and fingerprint, an
    OpenPGP key fingerprint."""


class Envelope(abc.ABC):
    """Seals and opens transport secrets with one end-to-end encryption method."""

    name: ClassVar[str]
    """Short name used in the API and CLI: ``"omemo"``, ``"openpgp"``."""
    type: ClassVar[str]
    """The ``type`` attribute of ``<security/>``: the envelope element's namespace."""
    feature: ClassVar[str]
    """The disco feature advertising this envelope."""
    ciphers: ClassVar[tuple[str, ...]]
    """Canonical URIs of the ciphers this envelope can carry; the first is the default."""

    @abc.abstractmethod
    async def seal(self, secret: TransportSecret, context: EnvelopeContext) -> ET.Element:
        """The envelope element (child of ``<security/>``) carrying ``secret`` to the recipient.

        Raises :class:`~slixmpp_jet.errors.EnvelopeError` when it cannot (no trusted device,
        no key, peer without support): never returns something weaker.
        """

    @abc.abstractmethod
    async def open(self, element: ET.Element, context: EnvelopeContext) -> OpenedSecret:
        """Open ``element`` sealed by ``context.sender``; verify it really comes from them.

        Raises :class:`~slixmpp_jet.errors.EnvelopeError` on any failure.
        """
