"""Turning a hostile ``<name>`` from the network into one safe file-system component.

XEP-0234 §12: a peer may offer ``/etc/passwd`` or ``../../x``. Whatever arrives, the result
here is a single, visible, portable file name (Linux, macOS and Windows), never a path, and
a destination that stays inside the download directory and does not clobber existing files.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

MAX_NAME_BYTES = 200
"""Cap on the UTF-8 length of a name; below the usual 255-byte limit, leaving room for
the ``(n)`` suffixes and temporary-file prefixes added later."""

_MAX_EXTENSION_BYTES = 32
_MAX_NUMBERED_ATTEMPTS = 10_000

_SEPARATORS = re.compile(r"[/\\]")
# Characters that some tools fold into a separator or that are illegal on common
# file systems (Windows, FAT, SMB shares).
_ILLEGAL = re.compile(r'[<>:"|?*\uff0f\uff3c\u2215]')
_EDGE_DOTS_AND_SPACES = re.compile(r"^[\s.]+|[\s.]+$")
# Invisible characters that reorder or hide text, e.g. "\u202egnp.exe" shown as "exe.png".
_INVISIBLE = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
)
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{device}{digit}" for device in ("COM", "LPT") for digit in "123456789\u00b9\u00b2\u00b3"}
)


def safe_filename(name: str | None, fallback: str = "file") -> str:
    """Return ``name`` reduced to one safe file-name component, or ``fallback`` if nothing is left.

    Keeps only the last path component (``/`` and ``\\`` both count), drops control and
    bidi-override characters, replaces characters illegal on common file systems, strips
    leading and trailing dots and spaces, prefixes Windows device names (``CON``,
    ``lpt1.log``) and names that would read as a command-line option (``-rf``),
    NFC-normalises and caps the length at :data:`MAX_NAME_BYTES` bytes of UTF-8 while
    keeping the extension. The fallback is cleaned the same way.
    """
    return _clean(name or "") or _clean(fallback) or "file"


def safe_path_components(name: str | None) -> list[str]:
    """``name`` read as a relative path (``/`` or ``\\`` separated): each component made safe
    as by :func:`safe_filename`; ``.``, ``..`` and components that clean to nothing are dropped,
    so the result can only lead downwards."""
    components = _SEPARATORS.split(name or "")
    return [cleaned for part in components if (cleaned := _clean(part))]


def safe_relative_name(name: str | None, fallback: str = "file") -> str:
    """``name`` as a safe relative path joined with ``/`` (see :func:`safe_path_components`)."""
    return "/".join(safe_path_components(name)) or safe_filename(fallback)


def unique_destination(directory: Path, name: str, overwrite: bool = False) -> Path:
    """Return where a file offered as ``name`` should be written inside ``directory``.

    The name goes through :func:`safe_filename`. If that path is taken and ``overwrite`` is
    false, ``name (1).ext``, ``name (2).ext``, ... are tried. Even with ``overwrite``, an
    existing directory or symbolic link is never chosen. The result always lies directly
    inside the resolved ``directory``; the caller still creates the file atomically.
    """
    base = directory.resolve()
    safe = safe_filename(name)
    stem, extension = _split_extension(safe)
    for attempt in range(_MAX_NUMBERED_ATTEMPTS):
        candidate_name = safe if attempt == 0 else _fit(stem, f" ({attempt}){extension}")
        candidate = base / candidate_name
        if _is_free(candidate, overwrite):
            if candidate.resolve().parent != base:
                raise ValueError(f"refusing a destination outside {base}: {candidate}")
            return candidate
    raise FileExistsError(f"no free name for {safe!r} in {base}")


def _is_free(path: Path, overwrite: bool) -> bool:
    """True when ``path`` does not exist, or is a plain file that may be overwritten."""
    if not os.path.lexists(path):
        return True
    return overwrite and path.is_file() and not path.is_symlink()


def _clean(raw: str) -> str:
    """Apply every rule of :func:`safe_filename`; may return an empty string."""
    visible = "".join(char for char in raw if _is_visible(char))
    text = unicodedata.normalize("NFC", visible)
    components = [part for part in _SEPARATORS.split(text) if part.strip(" .")]
    if not components:
        return ""
    text = _ILLEGAL.sub("_", components[-1])
    text = _EDGE_DOTS_AND_SPACES.sub("", text)
    if not text:
        return ""
    if _is_windows_device(text) or text.startswith("-"):
        text = "_" + text  # a device name; or an option to whatever command the user runs next
    stem, extension = _split_extension(text)
    return _EDGE_DOTS_AND_SPACES.sub("", _fit(stem, extension))


def _is_visible(char: str) -> bool:
    return char not in _INVISIBLE and unicodedata.category(char) not in _DROPPED_CATEGORIES


def _is_windows_device(name: str) -> bool:
    """Windows reserves device names with any extension, ignoring trailing spaces before it."""
    device = name.split(".", 1)[0].rstrip(" ")
    return device.upper() in _WINDOWS_RESERVED


def _split_extension(name: str) -> tuple[str, str]:
    """Split off a short final extension (``.txt``); long or missing ones stay in the stem."""
    stem, dot, extension = name.rpartition(".")
    suffix = dot + extension
    if not stem or len(suffix.encode("utf-8")) > _MAX_EXTENSION_BYTES:
        return name, ""
    return stem, suffix


def _fit(stem: str, suffix: str) -> str:
    """Join ``stem`` and ``suffix``, shortening the stem so the whole fits the byte cap."""
    room = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    encoded = stem.encode("utf-8")
    if len(encoded) > room:
        stem = encoded[:room].decode("utf-8", errors="ignore")
    return stem + suffix
