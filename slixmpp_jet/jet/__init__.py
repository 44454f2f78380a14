"""Jingle Encrypted Transports (XEP-0391): ciphers, stream layer, envelopes, ``xep_0391``."""

from slixmpp.plugins.base import register_plugin

from .envelope import Envelope, EnvelopeContext, OpenedSecret, TransportSecret
from .plugin import XEP_0391
from .security import StreamSecurity

register_plugin(XEP_0391)

__all__ = [
    "XEP_0391",
    "Envelope",
    "EnvelopeContext",
    "OpenedSecret",
    "StreamSecurity",
    "TransportSecret",
]
