"""Files on our disk: their XEP-0234 description, and which ones a peer may request."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..errors import JetError, Reason
from .names import safe_filename, safe_relative_name
from .stanza import FileInfo

HASH_ALGO = "sha-256"
"""The hash we compute while streaming and send as the checksum (XEP-0414 MUST)."""

ServePolicy = Callable[[str, FileInfo], bool]
"""``allow(peer_full_jid, requested_file)``: may this peer have this file?"""


def describe_file(
    path: Path,
    name: str | None = None,
    media_type: str | None = None,
    desc: str | None = None,
    encrypted: bool = False,
) -> FileInfo:
    """The ``<file/>`` we offer for ``path``: size, date, type, and ``<hash-used/>`` (only the
    algorithm; Libervia refuses an offer with neither a hash nor this). ``name`` may be a relative
    path (``photos/a.jpg``, made safe): a receiver that asks for it recreates the folders.

    The description travels in the clear. For a plaintext file the hash follows as a checksum.
    For an ``encrypted`` one it never does (the GCM tag authenticates the content; a plaintext
    hash would let any server on the path confirm which known file was sent), and the offer
    carries no ``desc``: asking for one is a ``ValueError``.
    """
    if encrypted and desc is not None:
        raise ValueError("an encrypted offer carries no description: it would travel in the clear")
    stat = path.stat()
    return FileInfo(
        name=safe_relative_name(name or path.name),
        size=stat.st_size,
        date=datetime.fromtimestamp(stat.st_mtime, UTC),
        media_type=media_type or mimetypes.guess_type(path.name)[0],
        desc=desc,
        hash_used=(HASH_ALGO,),
    )


class FileServer:
    """Answers requests with regular files directly inside one directory, nothing else."""

    def __init__(
        self, directory: Path, allow: ServePolicy | None = None, require_encryption: bool = False
    ) -> None:
        self.directory = directory.resolve()
        self.allow = allow
        self.require_encryption = require_encryption

    def find(self, peer: str, wanted: FileInfo, encrypted: bool) -> Path:
        """The file ``peer`` asked for; ``failed-application`` if it may not have it."""
        if self.require_encryption and not encrypted:
            raise JetError("only encrypted requests are served", reason=Reason.SECURITY_ERROR)
        unavailable = JetError("file not available", reason=Reason.FAILED_APPLICATION)
        if not wanted.name or safe_filename(wanted.name) != wanted.name:
            raise unavailable
        source = (self.directory / wanted.name).resolve()
        if source.parent != self.directory or not source.is_file():
            raise unavailable
        if self.allow is not None and not self.allow(peer, wanted):
            raise unavailable
        return source


def existing_directory(directory: Path | str) -> Path:
    """``directory`` as a Path; ``ValueError`` unless it is an existing directory."""
    path = Path(directory)
    if not path.is_dir():
        raise ValueError(f"{path} is not a directory")
    return path
