"""Helpers for file-transfer integration tests: paired clients and an accepting receiver."""

from __future__ import annotations

import asyncio
from pathlib import Path

from slixmpp_jet.file_transfer import channel as channel_module
from slixmpp_jet.jet.stream import EncryptingSink
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


class Corrupting(EncryptingSink):
    """A sender that damages its stream: a flipped ciphertext or tag byte, one byte short,
    or one byte long (an extra encrypted byte the tag covers: size + 17 bytes on the wire)."""

    mode = ""

    def __init__(self, inner, security) -> None:
        super().__init__(inner, security)
        self._raw = inner
        self._first = True

    def seal(self, data: bytes):
        # What both write() and a SOCKS5 sender's thread send.
        encrypted = self._encryptor.update(data)
        if self.mode == "ciphertext" and self._first and encrypted:
            encrypted = bytes([encrypted[0] ^ 1]) + encrypted[1:]
            self._first = False
        yield encrypted

    async def finish(self) -> None:
        if self.mode == "long":
            await self._raw.write(self._encryptor.update(b"!"))
        self._encryptor.finalize()
        tag = self._encryptor.tag
        if self.mode == "tag":
            tag = tag[:-1] + bytes([tag[-1] ^ 1])
        elif self.mode == "short":
            tag = tag[:-1]
        await self._raw.write(tag)
        await self._raw.finish()


class WireRecorder:
    """Wraps the receiver's real byte stream and keeps every byte that crossed it."""

    def __init__(self, monkeypatch) -> None:
        self.data = bytearray()
        real_establish = channel_module.ContentChannel.establish
        recorder = self

        async def establish(channel):
            stream = await real_establish(channel)
            if channel.context.sending:
                return stream
            real_read = stream.read

            async def read(max_bytes=65536):
                chunk = await real_read(max_bytes)
                recorder.data.extend(chunk)
                return chunk

            stream.read = read
            real_blocking_reader = stream.blocking_reader

            async def blocking_reader():
                # SOCKS5 is read by the receiver's disk thread: record what it reads there.
                thread_reader = await real_blocking_reader()
                if thread_reader is not None:
                    real_thread_read = thread_reader.read

                    def thread_read(max_bytes):
                        chunk = real_thread_read(max_bytes)
                        recorder.data.extend(chunk)
                        return chunk

                    thread_reader.read = thread_read
                return thread_reader

            stream.blocking_reader = blocking_reader
            return stream

        monkeypatch.setattr(channel_module.ContentChannel, "establish", establish)
