"""What an IBB stream needs from slixmpp: IQs to its peer under its sid, and IQ replies.

Keeps every stanza detail of XEP-0047 out of the sender and receiver logic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from xml.etree import ElementTree as ET

from slixmpp import Iq
from slixmpp.basexmpp import BaseXMPP
from slixmpp.exceptions import IqError, IqTimeout

from ...errors import TransportError
from ...replies import error_to, result_to
from .shortcut import DATA_TAG, IbbShortcut
from .stanza import encode_block

log = logging.getLogger(__name__)


class IbbLink:
    """One IBB session as seen on the wire: our JID, the peer's, the sid, and the route to drop."""

    def __init__(
        self,
        xmpp: BaseXMPP,
        local_jid: str,
        peer_jid: str,
        sid: str,
        release: Callable[[], None],
        shortcut: IbbShortcut | None = None,
    ) -> None:
        self.xmpp = xmpp
        self.local_jid = local_jid
        self.peer_jid = peer_jid
        self.sid = sid
        self._release = release
        self._shortcut = shortcut

    def open_iq(self, block_size: int) -> Iq:
        """``<open block-size sid stanza='iq'/>``."""
        iq = self._iq_set()
        iq["ibb_open"]["block_size"] = block_size
        iq["ibb_open"]["sid"] = self.sid
        iq["ibb_open"]["stanza"] = "iq"
        return iq

    def data_iq(self, seq: int, block: bytes | memoryview) -> DataIq:
        """``<data seq sid>base64</data>``, built directly (without slixmpp's stanza plugin)."""
        iq = Iq(self.xmpp, stype="set", sto=self.peer_jid, sfrom=self.local_jid, recv=True)
        iq["id"] = self._shortcut.new_id() if self._shortcut else self.xmpp.new_id()
        data = ET.SubElement(iq.xml, DATA_TAG, {"seq": str(seq), "sid": self.sid})
        data.text = encode_block(block)
        return DataIq(iq, self._shortcut)

    def close_iq(self) -> Iq:
        """``<close sid/>``."""
        iq = self._iq_set()
        iq["ibb_close"]["sid"] = self.sid
        return iq

    async def request(self, iq: Iq, timeout: float, what: str) -> None:
        """Send ``iq`` and wait for its result; an error or no answer is a TransportError."""
        try:
            await iq.send(timeout=timeout)
        except IqError as error:
            raise TransportError(
                f"{self.peer_jid} refused {what} of IBB stream {self.sid}: {error.condition}"
            ) from None
        except IqTimeout:
            raise TransportError(
                f"{self.peer_jid} did not answer {what} of IBB stream {self.sid} in {timeout} s"
            ) from None

    def close_quietly(self, timeout: float) -> None:
        """Best-effort ``<close/>`` whose outcome nobody waits for (teardown paths)."""
        if not self.xmpp.is_connected():
            return
        future: asyncio.Future[Iq] = self.close_iq().send(timeout=timeout)
        future.add_done_callback(_ignore_outcome)

    def release(self) -> None:
        """Stop routing this sid's IQs to us: later ones get ``item-not-found``."""
        self._release()

    def _iq_set(self) -> Iq:
        return self.xmpp.make_iq_set(ito=self.peer_jid, ifrom=self.local_jid)


class DataIq:
    """One ``<data/>`` of ours, whose answer comes the short way when there is one."""

    def __init__(self, iq: Iq, shortcut: IbbShortcut | None) -> None:
        self.iq = iq
        self._shortcut = shortcut

    def send(self, timeout: float) -> asyncio.Future[Iq]:
        """Send it; the future gets the answer, IqError or IqTimeout (as ``Iq.send``)."""
        if self._shortcut is None:
            future: asyncio.Future[Iq] = self.iq.send(timeout=timeout)
            return future
        return self._shortcut.send(self.iq, timeout)


def acknowledge(iq: Iq) -> None:
    """Answer a peer's IBB IQ with an empty result (made fresh, never a copy of the block)."""
    result_to(iq).send()


def refuse(iq: Iq, condition: str, text: str) -> None:
    """Answer a peer's IBB IQ with an error (an RFC 6120 ``condition`` and a readable text).

    ``condition`` is checked at run time (ValueError if unknown).
    """
    error_to(iq, condition, text).send()


def _ignore_outcome(future: asyncio.Future[Iq]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.debug("best-effort IBB close was not acknowledged: %s", future.exception())
