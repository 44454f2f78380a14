"""Transfer throughput, side by side with a raw loopback socket copy of the same bytes.

Run: ``python benchmarks/throughput.py [--mib 256]`` (needs Debian's prosody). Every line
reports MiB/s and the ratio to the raw copy measured in the same run. Nothing is asserted:
speed is measured here, never in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import slixmpp_jet  # noqa: F401  (registers the plugins)
from slixmpp_jet.jet import omemo_plugin
from slixmpp_jet.testing.clients import connect_with_omemo, disconnect, make_client
from slixmpp_jet.testing.prosody import ProsodyServer

CHUNK = 128 * 1024


async def raw_socket_copy(path: Path) -> float:
    """Seconds to copy the file through a plain loopback TCP connection (the baseline)."""
    done = asyncio.get_running_loop().create_future()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with tempfile.TemporaryFile() as out:
            while data := await reader.read(CHUNK):
                out.write(data)
        writer.close()
        done.set_result(None)

    server = await asyncio.start_server(sink, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    start = time.perf_counter()
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    with path.open("rb") as source:
        while block := source.read(CHUNK):
            writer.write(block)
            await writer.drain()
    writer.close()
    await done
    elapsed = time.perf_counter() - start
    server.close()
    return elapsed


async def jingle_transfer(alice, bob, path: Path, inbox: Path, **options) -> float:
    """Seconds for one offer from alice to bob, offer to verified file (removed afterwards)."""
    received: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_offer(offer) -> None:
        received.set_result(await offer.accept(inbox))

    bob.add_event_handler("jingle_file_offer", on_offer)
    start = time.perf_counter()
    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, path, **options)
    result, _ = await asyncio.gather(await received, sent)
    elapsed = time.perf_counter() - start
    bob.del_event_handler("jingle_file_offer", on_offer)
    assert result.size == path.stat().st_size
    result.path.unlink()
    return elapsed


async def clients(server: ProsodyServer, s5b_config: dict) -> tuple:
    accounts = [server.register(), server.register()]
    server.befriend(*accounts)
    made = []
    for account, resource in zip(accounts, "ab", strict=True):
        client = make_client(server, account, resource)
        client.register_plugin("xep_0384", module=omemo_plugin)
        client.register_plugin("xep_0260", dict(s5b_config))
        client.register_plugin("xep_0234")
        await connect_with_omemo(client, server)
        made.append(client)
    return tuple(made)


async def main(mib: int) -> None:
    with ProsodyServer() as server, tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "payload.bin"
        with path.open("wb") as out:
            for _ in range(mib):
                out.write(os.urandom(1 << 20))
        inbox = Path(scratch) / "in"
        inbox.mkdir()
        direct = await clients(server, {"direct_addresses": ["127.0.0.1"], "use_proxy": False})
        proxied = await clients(server, {"direct": False})
        cases: list[tuple[str, Callable[[], Awaitable[float]]]] = [
            ("raw loopback socket copy (baseline)", lambda: raw_socket_copy(path)),
            (
                "S5B direct, plaintext",
                lambda: jingle_transfer(*direct, path, inbox, transport="s5b"),
            ),
            (
                "S5B direct, JET-OMEMO AES-128-GCM",
                lambda: jingle_transfer(*direct, path, inbox, transport="s5b", encrypt="omemo"),
            ),
            (
                "S5B via proxy65, plaintext",
                lambda: jingle_transfer(*proxied, path, inbox, transport="s5b"),
            ),
        ]
        baseline = None
        print(f"{mib} MiB, {os.cpu_count()} cores")
        for label, run in cases:
            seconds = await run()
            rate = mib / seconds
            baseline = baseline or rate
            print(f"{label:<40} {seconds:7.2f} s {rate:8.1f} MiB/s  ratio {rate / baseline:5.3f}")
        for client in (*direct, *proxied):
            await disconnect(client)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256, help="payload size in MiB")
    asyncio.run(main(parser.parse_args().mib))
