"""slixmpp-jet: end-to-end encrypted Jingle file transfer for slixmpp.

Importing this package registers its plugins with slixmpp: ``xep_0166`` (Jingle),
``xep_0234`` (file transfer, replacing slixmpp's minimal one), ``xep_0260`` (SOCKS5),
``xep_0261`` (IBB), ``xep_0391`` (JET) and ``jingle_webrtc_datachannel`` (the WebRTC data
channel; opt-in, needs the ``webrtc`` extra). Typical use::

    import slixmpp_jet
    xmpp.register_plugin("xep_0234")          # pulls in the others
    transfer = await xmpp.plugin["xep_0234"].send_file(jid, path, encrypt="omemo")
    result = await transfer
"""

from . import file_transfer, jet, jingle, transports  # noqa: F401  (registers the plugins)
from ._version import __version__
from .errors import (
    EnvelopeError,
    JetError,
    ProtocolError,
    Reason,
    SecurityError,
    TransferCancelled,
    TransferDeclined,
    TransferError,
    TransportError,
)
from .file_transfer import (
    Direction,
    FileInfo,
    FileOffer,
    RefusedOffer,
    Security,
    Transfer,
    TransferFailure,
    TransferResult,
)

__all__ = [
    "Direction",
    "EnvelopeError",
    "FileInfo",
    "FileOffer",
    "JetError",
    "ProtocolError",
    "Reason",
    "RefusedOffer",
    "Security",
    "SecurityError",
    "Transfer",
    "TransferCancelled",
    "TransferDeclined",
    "TransferError",
    "TransferFailure",
    "TransferResult",
    "TransportError",
    "__version__",
]
