"""Transports: the shared byte-stream interface, SOCKS5 (``xep_0260``) and IBB (``xep_0261``)."""

from . import ibb, s5b  # noqa: F401  (importing registers the plugins)
from .base import ByteStream, TransportContext, TransportMethod, TransportSession

__all__ = ["ByteStream", "TransportContext", "TransportMethod", "TransportSession"]
