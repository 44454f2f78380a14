"""Helpers for file-transfer integration tests: paired clients and an accepting receiver."""

from __future__ import annotations

import asyncio
from pathlib import Path

from slixmpp_jet.testing.demo import write_random_file

PLUGINS = ("xep_0234",)


def make_file(directory: Path, name: str, size: int) -> Path:
    """A file of ``size`` random bytes."""
    path = directory / name
    write_random_file(path, size)
    return path


class Receiver:
    """Accepts (or declines) every offer into ``directory`` and keeps the transfers."""

    def __init__(self, client, directory: Path, accept: bool = True, **accept_options) -> None:
        self.directory = directory
        self.accept = accept
        self.accept_options = accept_options
        self.offers: asyncio.Queue = asyncio.Queue()
        self.transfers: asyncio.Queue = asyncio.Queue()
        client.add_event_handler("jingle_file_offer", self._on_offer)

    async def _on_offer(self, offer) -> None:
        await self.offers.put(offer)
        if self.accept:
            transfer = await offer.accept(self.directory, **self.accept_options)
            await self.transfers.put(transfer)
        else:
            await offer.decline()

    async def next_transfer(self, timeout: float = 30):
        return await asyncio.wait_for(self.transfers.get(), timeout)


def leftovers(directory: Path) -> list[str]:
    """Every entry of ``directory`` (temporary files included)."""
    return sorted(entry.name for entry in directory.iterdir())
