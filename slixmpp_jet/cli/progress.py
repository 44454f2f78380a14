"""Showing a transfer as it moves: a redrawn bar on a terminal, a few plain lines elsewhere."""

from __future__ import annotations

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


class ProgressDisplay:
    """Follows every transfer's progress events and draws them on ``stream``.

    On a terminal one line is redrawn in place (name, bar, bytes, rate, ETA); otherwise a plain
    line is written each time another quarter of a file is done.
    """

    def __init__(self, stream: TextIO, terminal: bool) -> None:
        self._stream = stream
        self._terminal = terminal
        self._started: dict[str, tuple[float, int]] = {}
        """Per transfer: when we first saw it, and how many bytes were done then."""
        self._steps_shown: dict[str, int] = {}
        self._last_drawn = 0.0
        self._line_open = False

    def start(self, transfer: Transfer) -> None:
        """Measure ``transfer``'s rate from now (else from its first progress event)."""
        self._started.setdefault(transfer.sid, (time.monotonic(), transfer.progress))

    def update(self, transfer: Transfer) -> None:
        """A ``jingle_transfer_progress`` event."""
        self.start(transfer)
        total = transfer.total
        finished = total is not None and transfer.progress >= total
        if self._terminal:
            now = time.monotonic()
            if finished or now - self._last_drawn >= REDRAW_INTERVAL:
                self._last_drawn = now
                self._stream.write("\r" + self._describe(transfer) + "\x1b[K")
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

    def _describe(self, transfer: Transfer) -> str:
        name = transfer.file.name or "file"
        if len(name) > 32:
            name = name[:29] + "..."
        since, done_then = self._started.get(transfer.sid, (time.monotonic(), transfer.progress))
        elapsed = time.monotonic() - since
        rate = (transfer.progress - done_then) / elapsed if elapsed > 0 else 0.0
        done = human_size(transfer.progress)
        total = transfer.total
        if not total:
            return f"{name}  {done}  {human_size(rate)}/s"
        fraction = min(transfer.progress / total, 1.0)
        eta = human_duration((total - transfer.progress) / rate) if rate > 0 else "?"
        if self._terminal:
            filled = int(fraction * BAR_WIDTH)
            bar = "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]"
            return (
                f"{name} {bar} {fraction:4.0%}  {done} of {human_size(total)}  "
                f"{human_size(rate)}/s  ETA {eta}"
            )
        return f"{name}: {fraction:.0%} ({done} of {human_size(total)}, {human_size(rate)}/s)"
