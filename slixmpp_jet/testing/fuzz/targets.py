"""The CLI processes under attack, watched from outside: output, descriptors, memory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..demo import Finished, RunningProcess, cli_arguments, cli_command, cli_environment
from ..prosody import Account, ProsodyServer

TRACEBACK_MARKS = ("Traceback", "never retrieved", "Fatal error")
STREAM_LOSS_MARK = "lost the connection to the server"


@dataclass(frozen=True)
class Usage:
    """What a process holds: open file descriptors and resident memory."""

    descriptors: int
    rss_kib: int


def usage_of(pid: int) -> Usage | None:
    """The process's usage from ``/proc``, or None once it is gone."""
    try:
        descriptors = len(os.listdir(f"/proc/{pid}/fd"))
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    rss = next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), "0")
    return Usage(descriptors, int(rss))


class Target:
    """One ``slixmpp-jet`` command running against the server; its output lines are counted."""

    def __init__(
        self,
        server: ProsodyServer,
        account: Account,
        resource: str,
        command: str,
        *arguments: str,
    ) -> None:
        self.name = command
        self.jid = f"{account.jid}/{resource}"
        self.tracebacks = 0
        self.stream_losses = 0
        self.lines: list[str] = []
        self.process = RunningProcess(
            cli_command(command, *cli_arguments(server, account, resource), *arguments),
            cli_environment(account),
            echo=self._saw,
        )

    def _saw(self, line: str) -> None:
        self.lines.append(line)
        if any(mark in line for mark in TRACEBACK_MARKS):
            self.tracebacks += 1
        if STREAM_LOSS_MARK in line:
            self.stream_losses += 1

    def wait_ready(self) -> None:
        self.process.wait_ready()

    @property
    def alive(self) -> bool:
        return self.process.process.poll() is None

    def usage(self) -> Usage | None:
        return usage_of(self.process.process.pid)

    def stop(self) -> Finished:
        """SIGTERM, as a person stopping the bot would."""
        return self.process.stop()
