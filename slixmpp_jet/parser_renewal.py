"""A fresh XML parser for the stream now and then, so that hostile names cannot fill memory.

slixmpp parses a whole stream with one ``XMLPullParser``. ElementTree and expat keep every
distinct element and attribute name they meet for as long as the parser lives (a name cache,
expat's element and attribute tables), and stanzas cost nothing to fill with fresh names:
100,000 stanzas with four new names each grew a client by 72 MiB that it never gave back.
The stream itself has to stay up, so :class:`ParserRenewal` replaces the parser between two
stanzas instead, once ``renew_after`` bytes went through the old one: the new parser is given
a stream header of its own (the same namespaces) and takes over from the next byte.

"Between two stanzas" is known exactly: slixmpp's depth is back at 1 (no stanza open) and
the data read ends with a whole end tag or empty-element tag. The last ``<`` of the data
starts that tag (``<`` cannot appear in attribute values, and servers send no comments, CDATA
or text between stanzas), and matching it from there to the end, quotes and all, proves the
old parser holds no part of a token. If a read never ends that way, renewal waits for one
that does.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

from slixmpp.basexmpp import BaseXMPP

from .stream_hook import AfterRead

RENEW_AFTER = 256 * 1024
"""Bytes of stream after which the parser is renewed at the next stanza boundary."""

_NAME = rb"[^\s<>/='\"]+"
_LAST_TAG_COMPLETE = re.compile(
    rb"(?:</" + _NAME + rb"\s*>"  # an end tag
    rb"|<" + _NAME + rb"(?:\s+" + _NAME + rb"\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s*/>)"  # empty
    rb"\s*"
)


class ParserRenewal:
    """Renews ``xmpp``'s stream parser every ``renew_after`` bytes, at a stanza boundary.

    :meth:`install` hooks the stream's reads (across reconnections) until :meth:`remove`;
    ``renewals`` counts the parsers replaced so far.
    """

    def __init__(self, xmpp: BaseXMPP, renew_after: int = RENEW_AFTER) -> None:
        if renew_after <= 0:
            raise ValueError("renew_after must be positive")
        self.xmpp = xmpp
        self.renew_after = renew_after
        self.renewals = 0
        self._parser: object = None
        self._fed = 0
        self._hook = AfterRead(xmpp, self._after)

    def install(self) -> None:
        self._hook.install()

    def remove(self) -> None:
        self._hook.remove()

    def _after(self, data: bytes | str) -> None:
        parser = self.xmpp.parser
        if parser is not self._parser:  # a new stream (connection, TLS or SASL restart)
            self._parser = parser
            self._fed = 0
        self._fed += len(data)
        if self._fed < self.renew_after or not self._between_stanzas(data):
            return
        self.xmpp.parser, self.xmpp.xml_root = self._fresh_parser()
        self._parser = self.xmpp.parser
        self._fed = 0
        self.renewals += 1

    def _between_stanzas(self, data: bytes | str) -> bool:
        if self.xmpp.xml_depth != 1:
            return False
        raw = data.encode() if isinstance(data, str) else data
        return _LAST_TAG_COMPLETE.fullmatch(raw, raw.rfind(b"<")) is not None

    def _fresh_parser(self) -> tuple[ET.XMLPullParser[ET.Element], ET.Element]:
        """A parser already inside a stream of the same namespaces, and its stream element."""
        parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(("start", "end"))
        parser.feed(
            f"<stream:stream xmlns='{self.xmpp.default_ns}' xmlns:stream='{self.xmpp.stream_ns}'>"
        )
        for event in parser.read_events():
            if isinstance(event[-1], ET.Element):
                return parser, event[-1]
        raise AssertionError("a stream header makes a start event")
