"""OMEMO's key/value store as one private JSON file (or in memory only), and the lock that lets
one device of an account at a time change the account's device list."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from omemo import JSONType, Just, Maybe, Nothing, Storage


class JsonStorage(Storage):
    """OMEMO's key/value store as one JSON file, or in memory only when ``path`` is ``None``.

    One running client per file: two processes writing the same file would each overwrite the
    other's ratchets (the command line locks its store, see :mod:`slixmpp_jet.cli.omemo_store`).
    """

    def __init__(self, path: Path | None) -> None:
        super().__init__()
        self._path = path
        self._data: dict[str, JSONType] = {}
        if path is not None and path.exists():
            try:
                self._data = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                raise ValueError(f"OMEMO storage {path} cannot be read: {error}") from error

    async def _load(self, key: str) -> Maybe[JSONType]:
        return Just(self._data[key]) if key in self._data else Nothing()

    async def _store(self, key: str, value: JSONType) -> None:
        self._data[key] = value
        self._save()

    async def _delete(self, key: str) -> None:
        if key in self._data:
            del self._data[key]
            self._save()

    def _save(self) -> None:
        """Write the whole store to a private temporary file, then rename it over the old one."""
        if self._path is None:
            return
        temporary = self._path.with_name(self._path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(self._data, file)
        os.replace(temporary, self._path)


LOCK_POLL_SECONDS = 0.05


@asynccontextmanager
async def device_list_turn(store: Path | None, bare_jid: str) -> AsyncIterator[None]:
    """Wait until no other process whose store lies beside ``store`` is starting a device of
    ``bare_jid``, and keep the others waiting until the block ends.

    Starting devices publish the account's device list by reading it, adding themselves and
    writing it back; several at once overwrite each other, and each that finds itself missing
    writes it again, so a few new devices started together flood every contact with hundreds of
    device-list notifications. Nothing to wait for without a store file.
    """
    if store is None:
        yield
        return
    descriptor = os.open(
        store.with_name(f".{bare_jid}.devices.lock"), os.O_RDWR | os.O_CREAT, 0o600
    )
    try:
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(descriptor)  # releases the lock


__all__ = ["JsonStorage", "device_list_turn"]
