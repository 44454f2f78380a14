"""Jingle WebRTC data-channel transport (``urn:xmpp:jingle:transports:webrtc-datachannel:1``).

What Conversations (2.13.4 and later) prefers for files when the peer advertises it: ICE finds
a path through NATs (STUN) or through the server's TURN relay, DTLS secures it, SCTP carries a
data channel. Importing this registers ``jingle_webrtc_datachannel``; it needs the ``webrtc``
extra (aiortc) to do anything, and advertises the feature only then. The wire facts, read from
Conversations' source, are in ``WIRE.md`` beside this file.
"""

from __future__ import annotations

from slixmpp.plugins.base import register_plugin

from .ice_servers import IceServer
from .plugin import JingleWebRTCDataChannel, aiortc_available
from .stanza import NS, Candidate, DataChannelTransport, Fingerprint

register_plugin(JingleWebRTCDataChannel)

__all__ = [
    "NS",
    "Candidate",
    "DataChannelTransport",
    "Fingerprint",
    "IceServer",
    "JingleWebRTCDataChannel",
    "aiortc_available",
]
