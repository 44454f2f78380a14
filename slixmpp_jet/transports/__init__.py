"""Transports: the one-way stream interface, SOCKS5 (``xep_0260``), IBB (``xep_0261``) and the
WebRTC data channel (``jingle_webrtc_datachannel``)."""

from . import ibb, s5b, webrtc  # noqa: F401  (importing registers the plugins)
from .base import (
    ByteSink,
    ByteSource,
    TransportContext,
    TransportMethod,
    TransportSession,
    expect_sink,
    expect_source,
)

__all__ = [
    "ByteSink",
    "ByteSource",
    "TransportContext",
    "TransportMethod",
    "TransportSession",
    "expect_sink",
    "expect_source",
]
