"""Child processes of the suite, each measured as ``time`` would: wall, CPU seconds, peak RSS.

Every worker prints one JSON object per line on stdout, the first ``{"ready": ...}`` once it is
logged in (the CLI says so on stderr instead); a receiver is started first and its sender only
once it is ready. "Login" is the time from the start of the process to that line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
READY_NOTES = ("ready:", "offering ")
"""The CLI's first lines on stderr once it is logged in: receive/serve, and send."""


def settle(future: asyncio.Future[None]) -> None:
    """Resolve ``future`` unless it already is (an event handler may fire again)."""
    if not future.done():
        future.set_result(None)


@dataclass
class Outcome:
    """How one child process ran."""

    lines: list[dict[str, Any]]
    status: int
    wall: float
    cpu: float
    peak_rss_mib: float
    ready_after: float | None
    stderr: str

    def last(self, key: str) -> dict[str, Any]:
        """The last JSON line that has ``key``; RuntimeError (with stderr) if there is none."""
        for line in self.lines[::-1]:
            if key in line:
                return line
        raise RuntimeError(
            f"no {key!r} in the output (status {self.status}):\n{self.stderr[-3000:]}"
        )


@dataclass
class Child:
    """A running worker: ``python args...`` from the repository root."""

    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    _lines: list[dict[str, Any]] = field(default_factory=list)
    _stderr: list[str] = field(default_factory=list)
    _ready: threading.Event = field(default_factory=threading.Event)
    _ready_after: float | None = None

    def start(self) -> Child:
        self._started = time.perf_counter()
        self._process = subprocess.Popen(
            [sys.executable, *self.args],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        return self

    @property
    def ready_value(self) -> Any:
        """What the worker's ``{"ready": ...}`` line said (its port, or its JID)."""
        return next(line["ready"] for line in self._lines if "ready" in line)

    def wait_ready(self, timeout: float = 120) -> None:
        """Until the worker printed ``ready`` (RuntimeError if it died or took too long)."""
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self._exited() or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.args} never got ready:\n{''.join(self._stderr)[-3000:]}")

    def finish(self, timeout: float = 3600) -> Outcome:
        """Wait for the exit and measure it (the child is killed after ``timeout``)."""
        timer = threading.Timer(timeout, self.kill)
        timer.start()
        try:
            _pid, status, usage = os.wait4(self._process.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - self._started
        self._process.returncode = os.waitstatus_to_exitcode(status)
        for reader in self._readers:
            reader.join()
        return Outcome(
            lines=self._lines,
            status=self._process.returncode,
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            peak_rss_mib=usage.ru_maxrss / 1024,
            ready_after=self._ready_after,
            stderr="".join(self._stderr),
        )

    def kill(self) -> None:
        """Kill the worker unless :meth:`finish` has reaped it already."""
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid, signal.SIGKILL)

    def _exited(self) -> bool:
        """Whether the worker has ended, without reaping it (``finish`` measures it then)."""
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, self._process.pid, flags) is not None

    def _read_stdout(self) -> None:
        assert self._process.stdout is not None
        for text in self._process.stdout:
            try:
                line = json.loads(text)
            except ValueError:
                continue
            if isinstance(line, dict):
                self._lines.append(line)
                if "ready" in line and not self._ready.is_set():
                    self._ready_after = time.perf_counter() - self._started
                    self._ready.set()

    def _read_stderr(self) -> None:
        assert self._process.stderr is not None
        for text in self._process.stderr:
            self._stderr.append(text)
            if text.startswith(READY_NOTES) and not self._ready.is_set():
                self._ready_after = time.perf_counter() - self._started
                self._ready.set()


RECEIVER_GRACE = 120.0
"""Seconds a receiver may take to finish once its sender has ended."""


def pair(receiver: Child, sender: Child, timeout: float = 3600) -> tuple[Outcome, Outcome]:
    """Start the receiver, wait until it is ready, run the sender; both outcomes."""
    receiver.start()
    try:
        receiver.wait_ready()
        sent = sender.start().finish(timeout)
    except BaseException:
        receiver.kill()
        receiver.finish()
        raise
    return receiver.finish(RECEIVER_GRACE), sent
