"""Smoke test of the benchmark suite: a tiny run produces every row, each transfer verified.

Nothing about speed is asserted (speed lives in ``python -m benchmarks``)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from slixmpp_jet.testing.loopback import second_loopback
from slixmpp_jet.transports.webrtc import aiortc_available

pytestmark = pytest.mark.xmpp

ROOT = Path(__file__).resolve().parents[2]
CASES = {
    "limit-plain", "limit-jet", "s5b-plain", "s5b-jet", "xep0065", "proxy-plain", "xep0047",
    "ibb-ceiling", "ibb-plain", "ibb-jet", "memory-1mib", "memory-big", "latency-s5b",
    "latency-ibb", "concurrent", "parallel",
}  # fmt: skip
WEBRTC = aiortc_available()
if WEBRTC:
    CASES |= {"webrtc-plain", "webrtc-jet"}


def test_tiny_run_has_every_row(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    with host_candidates():
        run = subprocess.run(
            [
                sys.executable, "-m", "benchmarks", "--mib", "1", "--ibb-mib", "0.25",
                "--big-mib", "2", "--concurrent", "3", "--parallel", "2", "--parallel-mib", "0.5",
                "--latency-runs", "1", "--repeat", "2", "--json", str(output),
            ],
            cwd=ROOT, capture_output=True, text=True, timeout=280,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    rows = json.loads(output.read_text())["rows"]
    assert set(rows) == CASES
    failed = {key: row["extra"] for key, row in rows.items() if not row["ok"]}
    assert not failed
    for key in CASES - {"latency-s5b", "latency-ibb"}:
        assert rows[key]["rate"] > 0, key
    for key in ("s5b-plain", "s5b-jet", "proxy-plain", "ibb-ceiling", "ibb-plain", "ibb-jet"):
        assert rows[key]["ratio"] > 0, key
    if WEBRTC:
        assert rows["webrtc-jet"]["extra"]["transport"] == "webrtc"
    for key in ("ibb-plain", "ibb-jet"):
        assert rows[key]["extra"]["of_ceiling"] > 0, key
    assert rows["proxy-plain"]["extra"]["transport"] == "s5b"
    assert rows["ibb-jet"]["extra"]["transport"] == "ibb"
    assert "rss_growth_mib" in rows["memory-big"]["extra"]
    assert len(rows["ibb-plain"]["extra"]["rates"]) == 2  # --repeat: the median of two runs
    assert "rates" not in rows["concurrent"]["extra"]
    for line in rows.values():
        assert "| " + line["case"] + " |" in run.stdout


@contextlib.contextmanager
def host_candidates() -> Iterator[None]:
    """A second loopback address for the data-channel cases, when we may add one."""
    try:
        with second_loopback():
            yield
    except PermissionError:
        yield
