"""A short way in for the stanzas of a running IBB stream: ``<data/>`` IQs and our answers.

slixmpp matches every incoming stanza against every registered handler, and ``Iq.send()``
registers one more handler and one scheduled task per IQ it waits for: with 16 data IQs in
flight, each answer was matched against about thirty handlers (fifteen in a client with just
the file-transfer plugins), which cost the sender more than building and sending the next
block. This ``in`` filter takes the peer's ``<data/>`` IQs
straight to the plugin and the answers to our own data IQs straight to the future that awaits
them, and leaves every other stanza alone. It must run after every other ``in`` filter (the
stream guard, stream management's counter), so the plugin moves it to the end of the list
whenever a session is bound.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

from slixmpp import JID, Iq
from slixmpp.basexmpp import BaseXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import StanzaBase

from .stanza import NS_IBB

DATA_TAG = f"{{{NS_IBB}}}data"


class IbbShortcut:
    """The ``in`` filter of one client, and the IQs of ours whose answers it awaits."""

    def __init__(self, xmpp: BaseXMPP, on_data: Callable[[Iq], None]) -> None:
        self._xmpp = xmpp
        self._on_data = on_data
        self._awaiting: dict[str, tuple[str, asyncio.Future[Iq], asyncio.TimerHandle]] = {}
        self._installed = False
        self._prefix = f"ibb-{secrets.token_hex(4)}-"
        self._count = 0

    def install(self) -> None:
        """Put the filter last among the ``in`` filters (again, if it was there already)."""
        self.uninstall()
        self._xmpp.add_filter("in", self.filter)
        self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            self._xmpp.del_filter("in", self.filter)
            self._installed = False

    def new_id(self) -> str:
        """An IQ id unique on this client's streams, cheaper than slixmpp's uuid4."""
        self._count += 1
        return f"{self._prefix}{self._count}"

    def send(self, iq: Iq, timeout: float) -> asyncio.Future[Iq]:
        """Send ``iq`` (a get or set); the future gets its result, IqError or IqTimeout."""
        ident, loop = iq["id"], asyncio.get_running_loop()
        future: asyncio.Future[Iq] = loop.create_future()
        expiry = loop.call_later(timeout, self._expire, ident, iq)
        self._awaiting[ident] = (iq["to"].full, future, expiry)
        StanzaBase.send(iq)  # not Iq.send(), which would register a handler for the answer
        return future

    def filter(self, stanza: StanzaBase) -> StanzaBase | None:
        """None for a stanza handled here; any other stanza unchanged."""
        if not isinstance(stanza, Iq):
            return stanza
        xml = stanza.xml
        kind = xml.get("type")
        if kind == "set":
            if len(xml) == 1 and xml[0].tag == DATA_TAG:
                try:
                    self._on_data(stanza)
                except Exception as error:  # as slixmpp does for a failing handler
                    stanza.exception(error)
                return None
        elif kind in ("result", "error") and self._awaiting:
            entry = self._awaiting.get(xml.get("id", ""))
            if entry is not None and _same_jid(xml.get("from", ""), entry[0]):
                self._answer(xml.get("id", ""), stanza, kind)
                return None
        return stanza

    def _answer(self, ident: str, stanza: Iq, kind: str) -> None:
        _peer, future, expiry = self._awaiting.pop(ident)
        expiry.cancel()
        if future.done():
            return
        if kind == "result":
            future.set_result(stanza)
        else:
            future.set_exception(IqError(stanza))

    def _expire(self, ident: str, iq: Iq) -> None:
        entry = self._awaiting.pop(ident, None)
        if entry is not None and not entry[1].done():
            entry[1].set_exception(IqTimeout(iq))


def _same_jid(seen: str, expected: str) -> bool:
    """Whether the answer comes from the JID we asked (cheap when spelled the same)."""
    if seen == expected:
        return True
    try:
        return JID(seen).full == expected
    except ValueError:
        return False
