"""Showing a transfer as it moves: a redrawn bar on a terminal, a few plain lines elsewhere."""

from __future__ import annotations

import os
import shutil
import time
from typing import TextIO

from ..file_transfer.transfer import Transfer

BAR_WIDTH = 24
REDRAW_INTERVAL = 0.1
PLAIN_STEPS = 4
"""Without a terminal, one line each time a quarter of the file is done."""


def human_size(count: float) -> str:
    """``8388608`` → ``"8.0 MiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """``75.2`` → ``"1:15"``."""
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def fit(fields: list[str], width: int) -> str:
    """``fields`` joined by two spaces within ``width`` columns: the first (a name) is shortened
    first, down to 8 columns; then the last fields are dropped."""
    name, rest = fields[0], fields[1:]
    while True:
        tail = "".join(f"  {field}" for field in rest)
        room = width - len(tail)
        if len(name) <= room:
            return name + tail
        if room >= 8:
            return shorten(name, room) + tail
        if not rest:
            return shorten(name, width)
        rest = rest[:-1]


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` columns, its middle replaced by ``…`` if need be."""
    if len(text) <= width:
        return text
    if width < 2:
        return text[:width]
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


class ProgressDisplay:
    """Follows every transfer's progress events and draws them on ``stream``.

    On a terminal one line is redrawn in place, never wider than the terminal (name, bar, bytes,
    rate, ETA; with several transfers at once, their sum); otherwise a plain line is written each
    time another quarter of a file is done.
    """

    def __init__(self, stream: TextIO, terminal: bool) -> None:
        self._stream = stream
        self._terminal = terminal
        self._started: dict[str, tuple[float, int]] = {}
        """Per transfer: when we first saw it, and how many bytes were done then."""
        self._steps_shown: dict[str, int] = {}
        self._active: dict[str, Transfer] = {}
        self._last_drawn = 0.0
        self._line_open = False

    def start(self, transfer: Transfer) -> None:
        """Measure ``transfer``'s rate from now (else from its first progress event)."""
        self._started.setdefault(transfer.sid, (time.monotonic(), transfer.progress))

    def update(self, transfer: Transfer) -> None:
        """A ``jingle_transfer_progress`` event."""
        self.start(transfer)
        self._active[transfer.sid] = transfer
        total = transfer.total
        finished = total is not None and transfer.progress >= total
        if self._terminal:
            now = time.monotonic()
            if finished or now - self._last_drawn >= REDRAW_INTERVAL:
                self._last_drawn = now
                line = fit(self._terminal_fields(), self._columns() - 1)
                self._stream.write("\r" + line + "\x1b[K")
                self._stream.flush()
                self._line_open = True
        elif total:
            step = transfer.progress * PLAIN_STEPS // total
            if 0 < step < PLAIN_STEPS and step > self._steps_shown.get(transfer.sid, 0):
                self._steps_shown[transfer.sid] = step
                self._stream.write(self._describe(transfer) + "\n")
                self._stream.flush()
        if finished:
            self.forget(transfer)

    def clear(self) -> None:
        """Remove the bar before other text is printed (a no-op without a terminal)."""
        if self._line_open:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._line_open = False

    def forget(self, transfer: Transfer) -> None:
        """Drop what was kept about ``transfer`` (done by itself when the last byte is in)."""
        self._started.pop(transfer.sid, None)
        self._steps_shown.pop(transfer.sid, None)
        self._active.pop(transfer.sid, None)

    def _columns(self) -> int:
        """The width of our terminal (asked each time: it may be resized)."""
        try:
            return os.get_terminal_size(self._stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return shutil.get_terminal_size().columns

    def _rate(self, transfer: Transfer) -> float:
        since, done_then = self._started.get(transfer.sid, (time.monotonic(), transfer.progress))
        elapsed = time.monotonic() - since
        return (transfer.progress - done_then) / elapsed if elapsed > 0 else 0.0

    def _terminal_fields(self) -> list[str]:
        """What the redrawn line says, most important first: of one transfer, or the sum of all
        under way."""
        transfers = list(self._active.values())
        if len(transfers) == 1:
            name = transfers[0].file.name or "file"
        else:
            name = f"{len(transfers)} transfers"
        done = sum(t.progress for t in transfers)
        rate = sum(self._rate(t) for t in transfers)
        totals = [t.total for t in transfers]
        if not all(totals):
            return [name, human_size(done), f"{human_size(rate)}/s"]
        total = sum(t for t in totals if t)
        fraction = min(done / total, 1.0)
        filled = int(fraction * BAR_WIDTH)
        bar = "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]"
        eta = human_duration((total - done) / rate) if rate > 0 else "?"
        return [
            name,
            f"{bar} {fraction:4.0%}",
            f"{human_size(done)} of {human_size(total)}",
            f"{human_size(rate)}/s",
            f"ETA {eta}",
        ]

    def _describe(self, transfer: Transfer) -> str:
        """One plain line (no terminal) about ``transfer``."""
        name = transfer.file.name or "file"
        rate = human_size(self._rate(transfer))
        done = human_size(transfer.progress)
        total = transfer.total
        if not total:
            return f"{name}: {done} ({rate}/s)"
        fraction = min(transfer.progress / total, 1.0)
        return f"{name}: {fraction:.0%} ({done} of {human_size(total)}, {rate}/s)"
