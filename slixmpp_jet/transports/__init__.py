"""Transports: the one-way stream interface, SOCKS5 (``xep_0260``) and IBB (``xep_0261``)."""

from . import ibb, s5b  # noqa: F401  (importing registers the plugins)
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
