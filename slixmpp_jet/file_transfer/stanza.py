"""XEP-0234 file metadata: ``<description>``, ``<checksum>``, ``<received>`` and FT errors.

Works on plain ``xml.etree.ElementTree`` elements so it stays independent of slixmpp; the
plugin moves them in and out of stanzas. Building follows what every deployed peer accepts
(Libervia needs a ``<desc/>``); parsing is lenient about extras (Conversations'
``<mediaType>``, unknown children and hash algorithms) and strict about values we act on
(sizes, dates, ranges, hash lengths), which are rejected with ``bad-request``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from slixmpp_jet.errors import ProtocolError
from slixmpp_jet.file_transfer.hashes import (
    NS_HASHES,
    SUPPORTED,
    decode_hash,
    encode_hash,
    new_hasher,
)

__all__ = [
    "NS_FT",
    "NS_FT_ERRORS",
    "NS_HASHES",
    "FileInfo",
    "FileRange",
    "build_checksum",
    "build_description",
    "build_received",
    "file_not_available",
    "parse_checksum",
    "parse_description",
]

NS_FT = "urn:xmpp:jingle:apps:file-transfer:5"
NS_FT_ERRORS = "urn:xmpp:jingle:apps:file-transfer:errors:0"

_CREATORS = frozenset({"initiator", "responder"})
_HASH = f"{{{NS_HASHES}}}hash"
_HASH_USED = f"{{{NS_HASHES}}}hash-used"
_MAX_INTEGER_DIGITS = 20  # 2**64 has 20 digits; anything longer is not a real file size.
_INTEGER = re.compile(r"[0-9]+")
# XEP-0082 DateTime; a bare date (the schema says xs:date) and a missing zone are tolerated.
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
)


@dataclass(frozen=True)
class FileRange:
    """A ``<range/>``: ``length`` None means "to the end"; ``FileRange()`` alone announces
    that ranged transfers are supported."""

    offset: int = 0
    length: int | None = None

    def __post_init__(self) -> None:
        if self.offset < 0 or (self.length is not None and self.length < 0):
            raise ValueError(f"range offset and length must not be negative: {self}")


@dataclass(frozen=True)
class FileInfo:
    """The ``<file>`` of an offer or request. ``hashes`` maps algorithm to raw digest;
    ``hash_used`` lists algorithms whose value follows later in a ``<checksum>``."""

    name: str | None = None
    size: int | None = None
    date: datetime | None = None
    media_type: str | None = None
    desc: str | None = None
    hashes: Mapping[str, bytes] = field(default_factory=dict)
    hash_used: tuple[str, ...] = ()
    range: FileRange | None = None

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 0:
            raise ValueError(f"file size must not be negative: {self.size}")
        if self.date is not None and self.date.utcoffset() is None:
            raise ValueError("file date must be timezone-aware")
        _check_hashes(self.hashes)
        for algo in self.hash_used:
            new_hasher(algo)


def build_description(file: FileInfo) -> ET.Element:
    """Build ``<description xmlns=NS_FT><file>...</file></description>``.

    ``<desc/>`` is always present (Libervia refuses offers without it); the date is written
    in UTC as XEP-0082 wants; hash values are standard Base64.
    """
    description = ET.Element(_ft("description"))
    element = ET.SubElement(description, _ft("file"))
    if file.name is not None:
        ET.SubElement(element, _ft("name")).text = file.name
    if file.size is not None:
        ET.SubElement(element, _ft("size")).text = str(file.size)
    if file.date is not None:
        ET.SubElement(element, _ft("date")).text = _format_date(file.date)
    if file.media_type is not None:
        ET.SubElement(element, _ft("media-type")).text = file.media_type
    ET.SubElement(element, _ft("desc")).text = file.desc
    if file.range is not None:
        element.append(_build_range(file.range))
    _append_hashes(element, file.hashes)
    for algo in file.hash_used:
        ET.SubElement(element, _HASH_USED, {"algo": algo})
    return description


def parse_description(description: ET.Element) -> FileInfo:
    """Read a file-transfer ``<description>`` into a :class:`FileInfo`.

    Raises ``ProtocolError`` (bad-request) when there is no ``<file>`` or when the size,
    date or range is not valid. Unknown children and unsupported hash algorithms are
    ignored; Conversations' ``<mediaType>`` counts as ``<media-type>``; of several
    ``<desc>`` the first is taken.
    """
    if description.tag != _ft("description"):
        raise _bad_request(f"expected a {NS_FT} description, got {description.tag}")
    element = _require_file(description)
    size_text = _stripped_text(element, "size")
    date_text = _stripped_text(element, "date")
    range_element = element.find(_ft("range"))
    hashes, hash_used = _parse_hashes(element)
    return FileInfo(
        name=_raw_text(element, "name"),
        size=None if size_text is None else _parse_integer("size", size_text),
        date=None if date_text is None else _parse_date(date_text),
        media_type=_stripped_text(element, "media-type") or _stripped_text(element, "mediaType"),
        desc=_raw_text(element, "desc"),
        hashes=hashes,
        hash_used=hash_used,
        range=None if range_element is None else _parse_range(range_element),
    )


def build_checksum(
    creator: str, name: str, hashes: Mapping[str, bytes], hex_in_base64: bool = False
) -> ET.Element:
    """Build the ``<checksum>`` session-info payload (XEP-0234 §8.2) for content ``name``.

    ``hex_in_base64`` encodes the values the way Libervia reads them (see ``encode_hash``).
    """
    _check_creator(creator)
    if not hashes:
        raise ValueError("a checksum needs at least one hash")
    _check_hashes(hashes)
    checksum = ET.Element(_ft("checksum"), {"creator": creator, "name": name})
    _append_hashes(ET.SubElement(checksum, _ft("file")), hashes, hex_in_base64)
    return checksum


def parse_checksum(checksum: ET.Element) -> tuple[str | None, str | None, dict[str, bytes]]:
    """Read a ``<checksum>`` into ``(creator, name, hashes)``.

    ``creator`` and ``name`` are returned as sent (peers get them wrong; the caller decides
    how strict to be). Hashes come from ``<file>``, or from its ``<range>`` when the file
    itself carries none. Raises ``ProtocolError`` (bad-request) when there is no ``<file>``,
    no hash element at all, or an unreadable hash value.
    """
    if checksum.tag != _ft("checksum"):
        raise _bad_request(f"expected a {NS_FT} checksum, got {checksum.tag}")
    element = _require_file(checksum)
    holder = element
    range_element = element.find(_ft("range"))
    if not _has_hash_elements(element) and range_element is not None:
        holder = range_element
    if not _has_hash_elements(holder):
        raise _bad_request("the checksum carries no hash")
    hashes, _ = _parse_hashes(holder)
    return checksum.get("creator"), checksum.get("name"), hashes


def build_received(creator: str, name: str) -> ET.Element:
    """Build the ``<received>`` session-info payload (XEP-0234 §8.1) for content ``name``."""
    _check_creator(creator)
    return ET.Element(_ft("received"), {"creator": creator, "name": name})


def file_not_available() -> ET.Element:
    """The application reason XEP-0234 §9.1 adds to ``<failed-application/>``."""
    return ET.Element(f"{{{NS_FT_ERRORS}}}file-not-available")


def _ft(local: str) -> str:
    return f"{{{NS_FT}}}{local}"


def _bad_request(message: str) -> ProtocolError:
    return ProtocolError(message, condition="bad-request")


def _check_creator(creator: str) -> None:
    if creator not in _CREATORS:
        raise ValueError(f"creator must be 'initiator' or 'responder', not {creator!r}")


def _check_hashes(hashes: Mapping[str, bytes]) -> None:
    for algo, digest in hashes.items():
        expected = new_hasher(algo).digest_size
        if len(digest) != expected:
            raise ValueError(f"a {algo} digest has {expected} bytes, got {len(digest)}")


def _require_file(parent: ET.Element) -> ET.Element:
    element = parent.find(_ft("file"))
    if element is None:
        raise _bad_request(f"<{parent.tag.rpartition('}')[2]}> has no <file>")
    return element


def _raw_text(parent: ET.Element, local: str) -> str | None:
    child = parent.find(_ft(local))
    return None if child is None or not child.text else child.text


def _stripped_text(parent: ET.Element, local: str) -> str | None:
    text = _raw_text(parent, local)
    return None if text is None else text.strip() or None


def _parse_integer(what: str, text: str) -> int:
    if not _INTEGER.fullmatch(text) or len(text) > _MAX_INTEGER_DIGITS:
        raise _bad_request(f"{what} must be a non-negative integer, got {text[:40]!r}")
    return int(text)


def _format_date(date: datetime) -> str:
    utc = date.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds") + "Z"


def _parse_date(text: str) -> datetime:
    if not _DATE_TIME.fullmatch(text):
        raise _bad_request(f"date is not an XEP-0082 DateTime: {text[:40]!r}")
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _bad_request(f"date is not a valid time: {text!r}") from None


def _build_range(file_range: FileRange) -> ET.Element:
    element = ET.Element(_ft("range"))
    if file_range.offset:
        element.set("offset", str(file_range.offset))
    if file_range.length is not None:
        element.set("length", str(file_range.length))
    return element


def _parse_range(element: ET.Element) -> FileRange:
    offset = element.get("offset")
    length = element.get("length")
    return FileRange(
        offset=0 if offset is None else _parse_integer("range offset", offset.strip()),
        length=None if length is None else _parse_integer("range length", length.strip()),
    )


def _append_hashes(
    parent: ET.Element, hashes: Mapping[str, bytes], hex_in_base64: bool = False
) -> None:
    for algo, digest in hashes.items():
        ET.SubElement(parent, _HASH, {"algo": algo}).text = encode_hash(digest, hex_in_base64)


def _has_hash_elements(parent: ET.Element) -> bool:
    return parent.find(_HASH) is not None or parent.find(_HASH_USED) is not None


def _parse_hashes(parent: ET.Element) -> tuple[dict[str, bytes], tuple[str, ...]]:
    """Hash values and announced algorithms among the direct children of ``parent``.

    An empty ``<hash algo=.../>`` (allowed by XEP-0234 §5) counts as an announcement.
    """
    hashes: dict[str, bytes] = {}
    announced: dict[str, None] = {}
    for child in parent:
        algo = child.get("algo")
        if child.tag not in (_HASH, _HASH_USED) or algo not in SUPPORTED:
            continue
        text = (child.text or "").strip()
        if child.tag == _HASH_USED or not text:
            announced[algo] = None
            continue
        digest = decode_hash(algo, text)
        if hashes.setdefault(algo, digest) != digest:
            raise _bad_request(f"two different {algo} hashes for the same file")
    return hashes, tuple(announced)
