"""Jingle In-Band Bytestreams (XEP-0261 over XEP-0047): importing this registers ``xep_0261``."""

from __future__ import annotations

from slixmpp.plugins.base import register_plugin

from .plugin import XEP_0261
from .session import IbbSettings, IbbTransportSession
from .stanza import NS_IBB, NS_JINGLE_IBB, IbbParameters

register_plugin(XEP_0261)

__all__ = [
    "NS_IBB",
    "NS_JINGLE_IBB",
    "XEP_0261",
    "IbbParameters",
    "IbbSettings",
    "IbbTransportSession",
]
