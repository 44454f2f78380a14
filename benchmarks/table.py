"""The suite's table, as printed (and pasted into the README)."""

from __future__ import annotations

from collections.abc import Iterable

from .cases import Row

HEADER = (
    "case",
    "MiB",
    "MiB/s",
    "ratio",
    "baseline",
    "CPU s snd/rcv",
    "peak RSS MiB snd/rcv",
    "login s snd/rcv",
    "notes",
)


def _pair(row: Row, key: str) -> str:
    values = [row.sender.get(key), row.receiver.get(key)]
    return "/".join("-" if value is None else f"{value:g}" for value in values)


def _notes(row: Row) -> str:
    extra = row.extra
    notes = []
    if "error" in extra:
        notes.append("FAILED: " + extra["error"].strip().splitlines()[-1][:80])
    if "rates" in extra:
        notes.append("runs " + "/".join(f"{rate:g}" for rate in extra["rates"]) + " MiB/s")
    if "ratios" in extra and len(extra["ratios"]) > 1:
        notes.append("ratios " + "/".join(f"{ratio:g}" for ratio in extra["ratios"]))
    if "of_ceiling" in extra:
        notes.append(f"{extra['of_ceiling']:g}x of ceiling")
    if "server_cpu_s" in extra:
        notes.append(f"Prosody CPU {extra['server_cpu_s']:g} s")
    if "median_ms" in extra:
        notes.append(f"median {extra['median_ms']} ms")
    if "of" in extra:
        notes.append(f"{extra['completed']}/{extra['of']} verified")
    for side in ("sender", "receiver"):
        lag = extra.get(f"loop_lag_{side}")
        if lag:
            notes.append(f"{side[:3]} loop lag max {lag['max_ms']} ms")
    if "rss_growth_mib" in extra:
        growth = extra["rss_growth_mib"]
        notes.append(f"RSS growth over 1 MiB: {growth['sender']:+g}/{growth['receiver']:+g} MiB")
    if extra.get("errors"):
        notes.append("errors: " + "; ".join(extra["errors"])[:100])
    if not row.ok and not notes:
        notes.append("FAILED")
    return ", ".join(notes)


def render(rows: Iterable[Row], machine: str) -> str:
    """A Markdown table, one line per row."""
    lines = [f"Machine: {machine}", "", "| " + " | ".join(HEADER) + " |"]
    lines.append("|" + "|".join("---" for _ in HEADER) + "|")
    for row in rows:
        cells = [
            row.case,
            f"{row.mib:g}",
            "-" if row.rate is None else f"{row.rate:.1f}",
            "-" if row.ratio is None else f"{row.ratio:.2f}x",
            row.baseline or "-",
            _pair(row, "cpu_s"),
            _pair(row, "peak_rss_mib"),
            _pair(row, "login_s"),
            _notes(row),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
