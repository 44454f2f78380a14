"""The attacking client: sends raw IQs, keeps score of the answers, plays along with sessions.

It answers every Jingle and IBB IQ the targets send it with an empty result (so the sessions
it opened for real go on), and tracks which of those sessions the target accepted.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from xml.etree import ElementTree as ET

from slixmpp import ClientXMPP, Iq
from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ...replies import result_to
from .mutations import NS_IBB, NS_JINGLE, LiveSession, Shot

_HANDLER = "fuzz attacker"


class Attacker:
    """Fires :class:`Shot` values with at most ``window`` unanswered at a time."""

    def __init__(self, client: ClientXMPP, window: int = 32, patience: float = 10.0) -> None:
        self.client = client
        self.window = window
        self.patience = patience
        self.sent: Counter[str] = Counter()
        self.answers: Counter[tuple[str, str]] = Counter()
        """(family, ``result`` or the error condition) → how many."""
        self.unanswered: Counter[str] = Counter()
        self.unanswered_samples: list[str] = []
        self.pending: dict[str, LiveSession] = {}
        """Sessions initiated for real, by Jingle sid, not yet accepted."""
        self.live: dict[str, LiveSession] = {}
        self._outstanding: dict[str, tuple[Shot, float]] = {}
        self._answered = asyncio.Event()
        client.register_handler(Callback(_HANDLER, MatchXPath("{jabber:client}iq"), self._on_iq))

    def close(self) -> None:
        self.client.remove_handler(_HANDLER)

    @property
    def outstanding(self) -> int:
        return len(self._outstanding)

    async def fire(self, shot: Shot) -> None:
        """Send ``shot`` once fewer than ``window`` IQs await their answer."""
        while len(self._outstanding) >= self.window:
            self._answered.clear()
            try:
                await asyncio.wait_for(self._answered.wait(), 1.0)
            except TimeoutError:
                self.sweep()
        iq_id = secrets.token_hex(6)
        self._outstanding[iq_id] = (shot, time.monotonic())
        self.sent[shot.family] += 1
        self.client.send_raw(
            f"<iq type='{shot.kind}' id='{iq_id}' to='{shot.target}'>{shot.payload}</iq>"
        )

    def sweep(self) -> None:
        """Count every IQ older than ``patience`` seconds as unanswered."""
        now = time.monotonic()
        for iq_id, (shot, sent_at) in list(self._outstanding.items()):
            if now - sent_at > self.patience:
                del self._outstanding[iq_id]
                self.unanswered[shot.family] += 1
                if len(self.unanswered_samples) < 5:
                    self.unanswered_samples.append(f"{shot.family}: {shot.payload[:300]}")

    async def drain(self) -> None:
        """Until every IQ is answered or counted as unanswered."""
        while self._outstanding:
            await asyncio.sleep(0.2)
            self.sweep()

    def _on_iq(self, stanza: StanzaBase) -> None:
        iq = stanza if isinstance(stanza, Iq) else None
        if iq is None:
            return
        kind = iq.xml.get("type")
        if kind in ("result", "error"):
            self._on_answer(iq, kind)
        elif kind == "set":
            self._on_request(iq)

    def _on_answer(self, iq: Iq, kind: str) -> None:
        found = self._outstanding.pop(iq.xml.get("id", ""), None)
        if found is None:
            return
        outcome = "result" if kind == "result" else (iq["error"]["condition"] or "?")
        self.answers[(found[0].family, outcome)] += 1
        self._answered.set()

    def _on_request(self, iq: Iq) -> None:
        jingle = iq.xml.find(f"{{{NS_JINGLE}}}jingle")
        if jingle is None and not any(child.tag.startswith(f"{{{NS_IBB}}}") for child in iq.xml):
            return
        result_to(iq).send()
        if jingle is not None:
            self._follow(jingle)

    def _follow(self, jingle: ET.Element) -> None:
        sid, action = jingle.get("sid", ""), jingle.get("action")
        if action == "session-accept" and sid in self.pending:
            self.live[sid] = self.pending.pop(sid)
        elif action == "session-terminate":
            self.pending.pop(sid, None)
            self.live.pop(sid, None)
