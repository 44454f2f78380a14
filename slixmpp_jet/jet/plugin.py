"""XEP-0391 plugin ``xep_0391``: the ``<security/>`` of session-initiate, in and out.

On the way out it makes a fresh transport secret, has the chosen envelope seal it for the
responder and wraps the result in ``<security/>``. On the way in it finds the envelope by its
``type``, has it open and authenticate the secret, and checks the cipher. Envelopes are added
with :meth:`XEP_0391.add_envelope`; the OMEMO one is added by itself when ``xep_0384`` is loaded.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar
from xml.etree import ElementTree as ET

from slixmpp import JID, Iq
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins import BasePlugin

from .._plugins import loaded
from ..errors import EnvelopeError, SecurityError
from .ciphers import cipher_by_name, cipher_for_uri
from .envelope import Envelope, EnvelopeContext
from .security import StreamSecurity
from .stanza import NS_JET, build_security, read_security

log = logging.getLogger(__name__)


class XEP_0391(BasePlugin):  # noqa: N801  (slixmpp's plugin naming)
    """Jingle Encrypted Transports: seals and opens transport secrets through envelopes."""

    name = "xep_0391"
    description = "XEP-0391: Jingle Encrypted Transports (slixmpp-jet)"
    dependencies: ClassVar[set[str]] = {"xep_0030", "xep_0166"}
    default_config: ClassVar[dict[str, Any]] = {}

    def plugin_init(self) -> None:
        self._envelopes: dict[str, Envelope] = {}

    def session_bind(self, jid: JID) -> None:
        if "xep_0384" in self.xmpp.plugin and "omemo" not in self._envelopes:
            from .omemo import OmemoEnvelope

            self.add_envelope(OmemoEnvelope(self.xmpp))
        if self._envelopes:
            features = [envelope.feature for envelope in self._envelopes.values()]
            loaded(self.xmpp, "xep_0166").advertise(NS_JET, *features)

    def plugin_end(self) -> None:
        for feature in [NS_JET, *(e.feature for e in self._envelopes.values())]:
            self.xmpp.plugin["xep_0030"].del_feature(feature=feature)

    def add_envelope(self, envelope: Envelope) -> None:
        """Make ``envelope`` available to send with and to receive from, and advertise it."""
        self._envelopes[envelope.name] = envelope
        if self.xmpp.session_bind_event.is_set():
            loaded(self.xmpp, "xep_0166").advertise(NS_JET, envelope.feature)

    @property
    def envelope_names(self) -> list[str]:
        return list(self._envelopes)

    def envelope(self, name: str) -> Envelope:
        """The envelope registered as ``name``; a clear error if there is none."""
        try:
            return self._envelopes[name]
        except KeyError:
            known = ", ".join(self._envelopes) or "none"
            raise EnvelopeError(f"no {name!r} envelope is set up (available: {known})") from None

    async def peer_supports(self, jid: str, envelope: Envelope) -> bool:
        """Does ``jid`` advertise JET and this envelope (XEP-0391 §6)? Answered from the
        entity-capabilities cache when the peer's presence announced its features."""
        disco = self.xmpp.plugin["xep_0030"]
        try:
            info = await disco.get_info(jid=JID(jid), timeout=15, cached=True)
        except (IqError, IqTimeout):
            return False
        found = info["disco_info"] if isinstance(info, Iq) else info  # cached: no Iq around
        features = set(found["features"])
        return NS_JET in features and envelope.feature in features

    async def seal(
        self,
        envelope_name: str,
        cipher_name: str | None,
        content_name: str,
        context: EnvelopeContext,
    ) -> tuple[ET.Element, StreamSecurity]:
        """Our ``<security/>`` with a fresh secret sealed for ``context.recipient``, and that
        secret's protection for the stream; never anything weaker.

        Raises :class:`EnvelopeError` when the peer lacks support or the envelope cannot seal.
        """
        envelope = self.envelope(envelope_name)
        cipher = cipher_by_name(cipher_name) if cipher_name else cipher_for_uri(envelope.ciphers[0])
        if cipher.uri not in envelope.ciphers:
            raise SecurityError(f"the {envelope.name} envelope cannot carry {cipher.name}")
        if not await self.peer_supports(context.recipient, envelope):
            raise EnvelopeError(
                f"{context.recipient} does not support encrypted Jingle transfers with "
                f"{envelope.name} ({envelope.feature}); refusing to send unencrypted"
            )
        security = StreamSecurity(envelope.name, cipher, cipher.new_secret())
        element = await envelope.seal(security.secret, context)
        return build_security(content_name, cipher.uri, envelope.type, element), security

    async def open(
        self, security: ET.Element | None, content_name: str, context: EnvelopeContext
    ) -> StreamSecurity | None:
        """The verified secret of a peer's content (its ``<security/>`` child and name), or
        ``None`` if it is not encrypted.

        Raises :class:`SecurityError` (or ProtocolError for malformed XML) on any failure.
        """
        info = read_security(security, content_name)
        if info is None:
            return None
        envelope = next((e for e in self._envelopes.values() if e.type == info.type), None)
        if envelope is None:
            raise SecurityError(f"unsupported JET envelope type {info.type!r}")
        if info.cipher.uri not in envelope.ciphers:
            raise SecurityError(f"the {envelope.name} envelope does not allow {info.cipher.name}")
        opened = await envelope.open(info.envelope, context)
        return StreamSecurity(envelope.name, info.cipher, opened.secret, opened.sender_identity)
