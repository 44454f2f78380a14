"""IQ answers built fresh: addresses, id, type and the error, never a copy of the request.

slixmpp's ``iq.reply()`` deep-copies the incoming stanza before clearing it; a hostile payload
nested a thousand levels deep makes that copy raise ``RecursionError`` inside the XML parser's
callback, and asyncio then drops the whole stream. Every answer this package sends is made
here instead, so its cost never depends on what the peer put in the request.
"""

from __future__ import annotations

from typing import cast
from xml.etree import ElementTree as ET

from slixmpp import Iq
from slixmpp.exceptions import XMPPError
from slixmpp.types import ErrorConditions

MAX_TEXT = 200
"""Characters of explanation at most: a text that quotes the peer's values stays short."""


def result_to(iq: Iq) -> Iq:
    """An empty ``result`` for ``iq``."""
    answer = _answer_to(iq)
    answer["type"] = "result"
    return answer


def error_to(
    iq: Iq, condition: str, text: str | None = None, extension: ET.Element | None = None
) -> Iq:
    """An ``error`` for ``iq`` with an RFC 6120 ``condition`` (ValueError if unknown), a
    readable ``text`` (cut to :data:`MAX_TEXT`) and an optional application element."""
    error = XMPPError(cast(ErrorConditions, condition))
    answer = _answer_to(iq)
    answer["type"] = "error"
    answer["error"]["type"] = error.etype
    answer["error"]["condition"] = error.condition
    if text:
        answer["error"]["text"] = text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
    if extension is not None:
        answer["error"].append(extension)
    return answer


def _answer_to(iq: Iq) -> Iq:
    stream = iq.stream
    answer = Iq(stream, recv=True)  # recv: no fresh id (a uuid4), the request's follows
    answer["id"] = iq["id"]
    answer["to"] = iq["from"]
    if getattr(stream, "is_component", False):
        answer["from"] = iq["to"]
    return answer
