"""Helpers for file-transfer integration tests: paired clients and an accepting receiver."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

PLUGINS = ("xep_0234",)


def make_file(directory: Path, name: str, size: int) -> Path:
    """A file of ``size`` random bytes."""
    path = directory / name
    with path.open("wb") as out:
        remaining = size
        while remaining:
            block = os.urandom(min(remaining, 1 << 20))
            out.write(block)
            remaining -= len(block)
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


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
