"""Jingle SOCKS5 Bytestreams (XEP-0260 over XEP-0065); importing this registers ``xep_0260``."""

from __future__ import annotations

from slixmpp.plugins.base import register_plugin

from .plugin import XEP_0260
from .proxy import StreamHost
from .session import S5BSession

register_plugin(XEP_0260)

__all__ = ["XEP_0260", "S5BSession", "StreamHost"]
