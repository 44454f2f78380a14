"""Spies on the data channel's peer connections (they wrap the real methods; nothing is faked).

Import only once aiortc is known to be there (``pytest.importorskip`` first).
"""

from __future__ import annotations

import asyncio

from slixmpp_jet.transports.webrtc import rtc


class Links:
    """Every peer connection made (wraps the real constructor)."""

    def __init__(self, monkeypatch) -> None:
        self.made: list[rtc.PeerLink] = []
        real = rtc.PeerLink.__init__

        def init(link, *args, **kwargs):
            real(link, *args, **kwargs)
            self.made.append(link)

        monkeypatch.setattr(rtc.PeerLink, "__init__", init)

    async def all_closed(self, timeout: float = 10) -> bool:
        async def closed() -> None:
            while any(link._pc.connectionState != "closed" for link in self.made):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(closed(), timeout)
        return bool(self.made)


class RemoteCandidates:
    """Every candidate a peer connection is given (wraps the real method)."""

    def __init__(self, monkeypatch) -> None:
        self.lines: list[str] = []
        self.links: set[int] = set()
        real = rtc.PeerLink.add_candidate

        async def add_candidate(link, line, mid):
            self.lines.append(line)
            self.links.add(id(link))
            await real(link, line, mid)

        monkeypatch.setattr(rtc.PeerLink, "add_candidate", add_candidate)
