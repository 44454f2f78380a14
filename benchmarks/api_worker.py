"""Many transfers through the library API, one client per process, the event loop watched.

``python -m benchmarks.api_worker receive --jid J --password P --port C --dir D --count N``
prints ``{"ready": jid}``, accepts ``N`` offers, then prints ``{"completed": ..., "first_bytes":
[...], "lag": {...}}``; ``... send --to RECEIVER --file F --count N [--sequential]`` offers the
file ``N`` times, all at once unless ``--sequential``, and prints ``{"completed": ...,
"offered": [...], "seconds": ..., "lag": {...}}``. Times in ``first_bytes`` and ``offered`` are
wall-clock (both processes run on one machine), for offer-to-first-byte latency. ``lag`` is how
late ``asyncio.sleep(0.01)`` woke up meanwhile: a stalled event loop shows there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

import slixmpp

import slixmpp_jet  # noqa: F401  (registers the plugins)
from slixmpp_jet.jet import omemo_plugin

from .procs import settle

TICK = 0.01


class LagMeter:
    """How late a 10 ms sleep wakes up, while something else runs on the loop."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(TICK)
            self.lags.append(time.perf_counter() - start - TICK)

    async def stop(self) -> dict[str, float]:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        lags = sorted(self.lags) or [0.0]
        return {
            "max_ms": round(lags[-1] * 1000, 1),
            "p99_ms": round(lags[int(len(lags) * 0.99)] * 1000, 1),
            "median_ms": round(statistics.median(lags) * 1000, 2),
        }


async def connect(options: argparse.Namespace) -> slixmpp.ClientXMPP:
    xmpp = slixmpp.ClientXMPP(
        options.jid,
        options.password,
        plugin_config={"feature_mechanisms": {"unencrypted_scram": True}},
    )
    xmpp.enable_direct_tls = False
    xmpp.enable_starttls = False
    xmpp.enable_plaintext = True
    xmpp.register_plugin("xep_0384", {"storage_path": str(options.store)}, module=omemo_plugin)
    xmpp.register_plugin("xep_0234", {"progress_step": 1})
    ready = asyncio.get_running_loop().create_future()
    xmpp.add_event_handler("omemo_initialized", lambda _: settle(ready))
    xmpp.add_event_handler("session_start", lambda _: xmpp.send_presence())
    xmpp.connect("127.0.0.1", options.port)
    await asyncio.wait_for(ready, 60)
    return xmpp


async def receive(options: argparse.Namespace) -> dict[str, Any]:
    xmpp = await connect(options)
    first_bytes: dict[str, float] = {}
    outcomes: list[bool] = []
    done = asyncio.Event()

    def on_progress(transfer: Any) -> None:
        if transfer.progress and transfer.sid not in first_bytes:
            first_bytes[transfer.sid] = time.time()

    async def finish(transfer: Any) -> None:
        try:
            result = await transfer
            outcomes.append(result.size == options.size)
        except Exception:
            outcomes.append(False)
        if len(outcomes) >= options.count:
            done.set()

    tasks: set[asyncio.Task[None]] = set()

    async def on_offer(offer: Any) -> None:
        transfer = await offer.accept(options.dir)
        task = asyncio.ensure_future(finish(transfer))
        tasks.add(task)

    xmpp.add_event_handler("jingle_transfer_progress", on_progress)
    xmpp.add_event_handler("jingle_file_offer", on_offer)
    print(json.dumps({"ready": str(xmpp.boundjid)}), flush=True)
    lag = LagMeter()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), options.timeout)
    report = {
        "completed": sum(outcomes),
        "failed": len(outcomes) - sum(outcomes),
        "first_bytes": sorted(first_bytes.values()),
        "lag": await lag.stop(),
    }
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    xmpp.disconnect()
    await xmpp.disconnected
    return report


async def send(options: argparse.Namespace) -> dict[str, Any]:
    xmpp = await connect(options)
    print(json.dumps({"ready": str(xmpp.boundjid)}), flush=True)
    file_transfer = xmpp["xep_0234"]
    offered: list[float] = []
    errors: list[str] = []

    async def one() -> bool:
        offered.append(time.time())
        try:
            transfer = await file_transfer.send_file(
                options.to, options.file, encrypt="omemo", transport=options.transport
            )
            await transfer
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}")
            return False
        return True

    lag = LagMeter()
    start = time.perf_counter()
    if options.sequential:
        outcomes = [await one() for _ in range(options.count)]
    else:
        outcomes = await asyncio.gather(*(one() for _ in range(options.count)))
    seconds = time.perf_counter() - start
    report = {
        "completed": sum(outcomes),
        "seconds": seconds,
        "offered": offered,
        "errors": sorted(set(errors))[:5],
        "lag": await lag.stop(),
    }
    xmpp.disconnect()
    await xmpp.disconnected
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["send", "receive"])
    parser.add_argument("--jid", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", type=Path, required=True, help="OMEMO store file")
    parser.add_argument("--to")
    parser.add_argument("--file", type=Path)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--size", type=int, help="bytes each received file must have")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--sequential", action="store_true")
    parser.add_argument("--transport", default="auto", choices=["auto", "s5b", "ibb"])
    parser.add_argument("--timeout", type=float, default=600)
    options = parser.parse_args()
    run = send if options.role == "send" else receive
    print(json.dumps(asyncio.run(run(options))), flush=True)


if __name__ == "__main__":
    main()
