"""One exception tree for everything slixmpp-jet raises to the application.

Every error carries the Jingle reason (XEP-0166 §7.4) it maps to, so a failure on one side
becomes the right ``<reason/>`` on the wire and the peer's reason becomes the right exception.
"""

from __future__ import annotations

import enum


@enum.unique
class Reason(enum.Enum):
    """The reason conditions of XEP-0166 §7.4."""

    ALTERNATIVE_SESSION = "alternative-session"
    BUSY = "busy"
    CANCEL = "cancel"
    CONNECTIVITY_ERROR = "connectivity-error"
    DECLINE = "decline"
    EXPIRED = "expired"
    FAILED_APPLICATION = "failed-application"
    FAILED_TRANSPORT = "failed-transport"
    GENERAL_ERROR = "general-error"
    GONE = "gone"
    INCOMPATIBLE_PARAMETERS = "incompatible-parameters"
    MEDIA_ERROR = "media-error"
    SECURITY_ERROR = "security-error"
    SUCCESS = "success"
    TIMEOUT = "timeout"
    UNSUPPORTED_APPLICATIONS = "unsupported-applications"
    UNSUPPORTED_TRANSPORTS = "unsupported-transports"


class JetError(Exception):
    """Root of every error slixmpp-jet raises; ``reason`` is the Jingle reason it maps to."""

    default_reason = Reason.GENERAL_ERROR

    def __init__(self, message: str, *, reason: Reason | None = None) -> None:
        super().__init__(message)
        self.reason = reason or self.default_reason


class ProtocolError(JetError):
    """A stanza that breaks the protocol; answered with an IQ error.

    ``condition`` is the RFC 6120 condition, ``jingle_condition`` the optional
    ``urn:xmpp:jingle:errors:1`` element (``out-of-order``, ``tie-break``, ...).
    """

    def __init__(
        self,
        message: str,
        *,
        condition: str = "bad-request",
        jingle_condition: str | None = None,
        reason: Reason | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.condition = condition
        self.jingle_condition = jingle_condition


class TransportError(JetError):
    """No byte stream could be set up, or it broke."""

    default_reason = Reason.FAILED_TRANSPORT


class SecurityError(JetError):
    """An encryption or authentication check failed; never falls back to plaintext."""

    default_reason = Reason.SECURITY_ERROR


class EnvelopeError(SecurityError):
    """A transport secret could not be sealed for, or opened from, the peer."""


class TransferError(JetError):
    """A file transfer did not complete; ``reason`` says why."""


class TransferDeclined(TransferError):
    """The peer declined the offer or request."""

    default_reason = Reason.DECLINE


class TransferCancelled(TransferError):
    """The transfer was cancelled by the application or the peer."""

    default_reason = Reason.CANCEL


class LocalFileError(TransferError):
    """Our own disk failed (no space, I/O error, permission): the file could not be read or kept."""

    default_reason = Reason.FAILED_APPLICATION
