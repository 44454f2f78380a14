"""What a slixmpp user has today: slixmpp's own ``xep_0065`` (through the server's proxy65)
and ``xep_0047`` (IBB, its default settings), used the way their documentation suggests.

``python -m benchmarks.baseline {s5b,ibb} receive --jid J --password P --port C --dir D``
prints ``{"ready": jid}``, takes one stream and prints ``{"seconds": ..., "bytes": ...}``;
``... {s5b,ibb} send --jid J --password P --port C --to RECEIVER --file F`` sends one file.
The receiver hashes, writes, fsyncs, renames and fsyncs the directory, as ours does.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import slixmpp

from .limit import sync_directory
from .procs import settle

CHUNK = 256 * 1024


def client(options: argparse.Namespace, plugin: str, config: dict[str, Any]) -> slixmpp.ClientXMPP:
    mechanisms = {"feature_mechanisms": {"unencrypted_scram": True}}
    xmpp = slixmpp.ClientXMPP(options.jid, options.password, plugin_config=mechanisms)
    xmpp.enable_direct_tls = False
    xmpp.enable_starttls = False
    xmpp.enable_plaintext = True
    xmpp.register_plugin("xep_0030")
    xmpp.register_plugin(plugin, config)
    return xmpp


async def connect(xmpp: slixmpp.ClientXMPP, port: int) -> None:
    started = asyncio.get_running_loop().create_future()
    xmpp.add_event_handler("session_start", lambda _: settle(started))
    xmpp.connect("127.0.0.1", port)
    await asyncio.wait_for(started, 30)
    xmpp.send_presence()


class FileSink:
    """Hash and write what arrives; fsync and rename at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.temporary = directory / ".baseline.part"
        self.out = self.temporary.open("wb")
        self.hasher = hashlib.sha256()
        self.start = time.perf_counter()

    def write(self, data: bytes) -> None:
        self.hasher.update(data)
        self.out.write(data)

    def commit(self) -> dict[str, Any]:
        self.out.flush()
        os.fsync(self.out.fileno())
        size = self.out.tell()
        self.out.close()
        self.temporary.rename(self.directory / "baseline.bin")
        sync_directory(self.directory)
        seconds = time.perf_counter() - self.start
        return {"seconds": seconds, "bytes": size, "sha256": self.hasher.hexdigest()}


async def receive(options: argparse.Namespace) -> None:
    plugin = "xep_0065" if options.method == "s5b" else "xep_0047"
    xmpp = client(options, plugin, {"auto_accept": True})
    done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    sink: FileSink | None = None

    def opened(*_: object) -> None:
        nonlocal sink
        sink = sink or FileSink(options.dir)

    def data(payload: Any) -> None:
        opened()
        assert sink is not None
        sink.write(payload.read() if options.method == "ibb" else payload)

    def closed(*_: object) -> None:
        if sink is not None and not done.done():
            done.set_result(sink.commit())

    if options.method == "ibb":
        xmpp.add_event_handler("ibb_stream_start", opened)
        xmpp.add_event_handler("ibb_stream_data", data)
        xmpp.add_event_handler("ibb_stream_end", closed)
    else:
        xmpp.add_event_handler("socks5_stream", opened)
        xmpp.add_event_handler("socks5_data", data)
        xmpp.add_event_handler("socks5_closed", closed)
    await connect(xmpp, options.port)
    print(json.dumps({"ready": str(xmpp.boundjid)}), flush=True)
    print(json.dumps(await done), flush=True)
    xmpp.disconnect()
    await xmpp.disconnected


async def send(options: argparse.Namespace) -> None:
    plugin = "xep_0065" if options.method == "s5b" else "xep_0047"
    xmpp = client(options, plugin, {})
    await connect(xmpp, options.port)
    print(json.dumps({"ready": str(xmpp.boundjid)}), flush=True)
    start = time.perf_counter()
    with options.file.open("rb") as source:
        if options.method == "ibb":
            stream = await xmpp["xep_0047"].open_stream(options.to)
            await stream.sendfile(source)
            await stream.close()
        else:
            proxy = await xmpp["xep_0065"].handshake(options.to)
            while chunk := source.read(CHUNK):
                await proxy.write(chunk)
            proxy.transport.close()
    print(json.dumps({"sent_seconds": time.perf_counter() - start}), flush=True)
    await asyncio.sleep(0.5)  # the receiver reports; leave the stream open meanwhile
    xmpp.disconnect()
    await xmpp.disconnected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("method", choices=["s5b", "ibb"])
    parser.add_argument("role", choices=["send", "receive"])
    parser.add_argument("--jid", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--to")
    parser.add_argument("--file", type=Path)
    parser.add_argument("--dir", type=Path)
    options = parser.parse_args()
    asyncio.run(send(options) if options.role == "send" else receive(options))


if __name__ == "__main__":
    main()
