"""Exit statuses, and turning what went wrong into a sentence a person understands."""

from __future__ import annotations

from ..errors import EnvelopeError, JetError, LocalFileError, Reason, TransferDeclined

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONNECT = 3
EXIT_INTERRUPTED = 130

_REASON_PHRASES = {
    Reason.DECLINE: "declined",
    Reason.BUSY: "the peer is busy",
    Reason.CANCEL: "cancelled",
    Reason.SECURITY_ERROR: "security check failed",
    Reason.FAILED_APPLICATION: "refused",
    Reason.FAILED_TRANSPORT: "no connection could carry the data",
    Reason.CONNECTIVITY_ERROR: "no connection",
    Reason.UNSUPPORTED_TRANSPORTS: "no transport in common with the peer",
    Reason.UNSUPPORTED_APPLICATIONS: "the peer does not do file transfer",
    Reason.MEDIA_ERROR: "the file arrived damaged",
    Reason.TIMEOUT: "timed out",
    Reason.GONE: "the peer went away",
    Reason.EXPIRED: "expired",
}


class CliError(Exception):
    """A failure that ends the command: its message is printed, ``status`` is the exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


def explain(error: BaseException) -> str:
    """``error`` as one readable phrase: what kind of failure, then the details."""
    if isinstance(error, EnvelopeError):
        return f"encryption not possible: {error}"
    if isinstance(error, TransferDeclined):
        return f"declined: {error}"
    if isinstance(error, LocalFileError):  # our disk: its message says which file and why
        return str(error)
    if isinstance(error, JetError):
        phrase = _REASON_PHRASES.get(error.reason, "failed")
        return f"{phrase}: {error}"
    if isinstance(error, OSError):
        return f"{error.strerror or error} ({error.filename})" if error.filename else str(error)
    return str(error) or type(error).__name__
