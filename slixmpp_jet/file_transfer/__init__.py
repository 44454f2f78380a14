"""Jingle File Transfer (XEP-0234): offers, requests, safe receiving, the ``xep_0234`` plugin."""

from slixmpp.plugins.base import register_plugin

from .plugin import XEP_0234
from .stanza import FileInfo
from .transfer import (
    Direction,
    FileOffer,
    RefusedOffer,
    Security,
    Transfer,
    TransferFailure,
    TransferResult,
)

register_plugin(XEP_0234)

__all__ = [
    "XEP_0234",
    "Direction",
    "FileInfo",
    "FileOffer",
    "RefusedOffer",
    "Security",
    "Transfer",
    "TransferFailure",
    "TransferResult",
]
