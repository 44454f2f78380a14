"""Offer to first byte: from ``send_file()`` to the receiver's first plaintext byte.

Run: ``python benchmarks/first_byte.py [--runs 20]`` (needs Debian's prosody). Two clients on a
throwaway Prosody (loopback), OMEMO in memory. *Cold* is the first JET-OMEMO transfer of a new
pair of devices (device lists, bundle, key exchange); *warm* are the transfers after it. Each
line gives the median, the fastest and the slowest of ``--runs`` transfers in milliseconds, and
how long sealing the envelope took of it. Nothing is asserted: speed is measured here, never in
the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from slixmpp import ClientXMPP

import slixmpp_jet  # noqa: F401  (registers the plugins)
from slixmpp_jet.file_transfer.transfer import FileOffer, Transfer
from slixmpp_jet.jet import omemo_plugin
from slixmpp_jet.jet.envelope import EnvelopeContext, TransportSecret
from slixmpp_jet.jet.omemo import OmemoEnvelope
from slixmpp_jet.testing.clients import connect_with_omemo, disconnect, make_client
from slixmpp_jet.testing.demo import write_random_file
from slixmpp_jet.testing.prosody import ProsodyServer

FILE_SIZE = 64 * 1024
SEAL_TIMES: list[float] = []


def time_sealing() -> None:
    """Keep how long every envelope took to seal (instrumentation for this benchmark only)."""
    real_seal = OmemoEnvelope.seal

    async def seal(
        self: OmemoEnvelope, secret: TransportSecret, context: EnvelopeContext
    ) -> ET.Element:
        start = time.perf_counter()
        try:
            return await real_seal(self, secret, context)
        finally:
            SEAL_TIMES.append(time.perf_counter() - start)

    OmemoEnvelope.seal = seal  # type: ignore[method-assign]


async def pair(server: ProsodyServer) -> tuple[ClientXMPP, ClientXMPP]:
    accounts = [server.register(), server.register()]
    server.befriend(*accounts)
    made: list[ClientXMPP] = []
    for account, resource in zip(accounts, "ab", strict=True):
        client = make_client(server, account, resource)
        client.register_plugin("xep_0384", module=omemo_plugin)
        client.register_plugin("xep_0234", {"progress_step": 1})
        await connect_with_omemo(client, server)
        made.append(client)
    alice, bob = made
    return alice, bob


async def first_byte(
    alice: ClientXMPP, bob: ClientXMPP, path: Path, inbox: Path, **options: Any
) -> tuple[float, float]:
    """Seconds from send_file() to bob's first plaintext byte, and of it sealing."""
    loop = asyncio.get_running_loop()
    first = loop.create_future()
    accepted: list[Transfer] = []

    async def on_offer(offer: FileOffer) -> None:
        accepted.append(await offer.accept(inbox))

    def on_progress(transfer: Transfer) -> None:
        if transfer.progress and not first.done():
            first.set_result(time.perf_counter())

    bob.add_event_handler("jingle_file_offer", on_offer)
    bob.add_event_handler("jingle_transfer_progress", on_progress)
    sealed_before = len(SEAL_TIMES)
    start = time.perf_counter()
    sent = await alice.plugin["xep_0234"].send_file(bob.boundjid, path, **options)
    arrived = await asyncio.wait_for(first, 30)
    await sent
    await accepted[0]
    bob.del_event_handler("jingle_file_offer", on_offer)
    bob.del_event_handler("jingle_transfer_progress", on_progress)
    (inbox / path.name).unlink()
    return arrived - start, sum(SEAL_TIMES[sealed_before:])


def line(label: str, samples: list[tuple[float, float]]) -> str:
    totals = [total * 1000 for total, _ in samples]
    seals = [seal * 1000 for _, seal in samples]
    return (
        f"{label:<34} median {statistics.median(totals):7.1f} ms  "
        f"min {min(totals):7.1f}  max {max(totals):7.1f}  "
        f"(sealing: median {statistics.median(seals):6.1f} ms)"
    )


async def main(runs: int) -> None:
    logging.getLogger("omemo").setLevel(logging.ERROR)  # "own device not in the list" on start
    time_sealing()
    with ProsodyServer() as server, tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "payload.bin"
        write_random_file(path, FILE_SIZE)
        inbox = Path(scratch) / "in"
        inbox.mkdir()
        print(f"{FILE_SIZE // 1024} KiB file, {runs} runs each, loopback Prosody")
        for transport in ("s5b", "ibb"):
            cold, warm, plain = [], [], []
            for _ in range(max(1, runs // 4)):
                alice, bob = await pair(server)
                cold.append(await first_byte(alice, bob, path, inbox, transport=transport,
                                             encrypt="omemo"))  # fmt: skip
                for client in (alice, bob):
                    await disconnect(client)
            alice, bob = await pair(server)
            await first_byte(alice, bob, path, inbox, transport=transport, encrypt="omemo")
            for _ in range(runs):
                warm.append(
                    await first_byte(alice, bob, path, inbox, transport=transport, encrypt="omemo")
                )
                plain.append(await first_byte(alice, bob, path, inbox, transport=transport))
            print(line(f"{transport}, JET-OMEMO, cold", cold))
            print(line(f"{transport}, JET-OMEMO, warm", warm))
            print(line(f"{transport}, plaintext", plain))
            for client in (alice, bob):
                await disconnect(client)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="warm transfers per case")
    asyncio.run(main(parser.parse_args().runs))
