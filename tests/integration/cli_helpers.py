"""Running the command line against the fixture Prosody, for the CLI test modules.

Every CLI process run through :class:`CliRunner` is checked when it ends: its stderr must show
no traceback and no "Task exception was never retrieved" (the user would see them).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence

from slixmpp_jet.testing.demo import (
    Finished,
    RunningProcess,
    cli_arguments,
    cli_command,
    cli_environment,
)
from slixmpp_jet.testing.prosody import Account, ProsodyServer

CONSOLE_NOISE = ("Traceback", "never retrieved")

Wrapper = Callable[[list[str]], list[str]]
"""Turns a command into another one that runs it (e.g. under a resource limit)."""


def assert_clean_console(finished: Finished, command: Sequence[str]) -> None:
    for noise in CONSOLE_NOISE:
        assert noise not in finished.stderr, (
            f"{' '.join(command)} printed {noise!r}:\n{finished.stderr}"
        )


class CliProcess:
    """A CLI process in the background; its output lines can be waited for as they come."""

    def __init__(self, command: list[str], environment: dict[str, str]) -> None:
        self.command = command
        self._lines: list[str] = []
        self._arrived = threading.Condition()
        self._running = RunningProcess(command, environment, echo=self._saw)

    def _saw(self, line: str) -> None:
        with self._arrived:
            self._lines.append(line)
            self._arrived.notify_all()

    @property
    def pid(self) -> int:
        return self._running.process.pid

    def wait_ready(self) -> None:
        """Until it prints ``ready:`` (``receive``, ``serve``)."""
        self._running.wait_ready()

    def wait_for(self, pattern: str, timeout: float = 60) -> str:
        """The first output line (stdout or stderr) matching ``pattern``, once it appears."""
        expression = re.compile(pattern)

        def found() -> str | None:
            return next((line for line in self._lines if expression.search(line)), None)

        with self._arrived:
            self._arrived.wait_for(
                lambda: found() is not None or self._running.process.poll() is not None, timeout
            )
            line = found()
        if line is None:
            output = "\n".join(self._lines)
            raise AssertionError(f"{' '.join(self.command)} never printed {pattern!r}:\n{output}")
        return line

    def send_signal(self, signum: int) -> None:
        self._running.process.send_signal(signum)

    def finish(self, timeout: float = 60) -> Finished:
        """Wait for it to exit by itself (killed after ``timeout``); its console is checked."""
        finished = self._running.finish(timeout)
        assert_clean_console(finished, self.command)
        return finished

    def stop(self) -> Finished:
        """SIGTERM, then as :meth:`finish`."""
        finished = self._running.stop()
        assert_clean_console(finished, self.command)
        return finished


class CliRunner:
    """``runner(account, command, *args)`` runs a command to its end; :meth:`start` runs one in
    the background. :meth:`close` (after the test) stops what is still running and checks the
    console of every process."""

    def __init__(self, prosody: ProsodyServer) -> None:
        self._prosody = prosody
        self._started: list[CliProcess] = []

    def start(
        self,
        account: Account,
        command: str,
        *args: str,
        resource: str = "cli",
        ready: bool = True,
        wrap: Wrapper | None = None,
    ) -> CliProcess:
        line = cli_command(command, *cli_arguments(self._prosody, account, resource), *args)
        process = CliProcess(wrap(line) if wrap else line, cli_environment(account))
        self._started.append(process)
        if ready:
            process.wait_ready()
        return process

    def __call__(
        self,
        account: Account,
        command: str,
        *args: str,
        resource: str = "cli",
        wrap: Wrapper | None = None,
        timeout: float = 60,
    ) -> Finished:
        process = self.start(account, command, *args, resource=resource, ready=False, wrap=wrap)
        return process.finish(timeout)

    def close(self) -> None:
        """Stop every process still running, then check every console."""
        problems = []
        for process in self._started:
            try:
                process.stop()
            except AssertionError as problem:
                problems.append(str(problem))
        assert not problems, "\n".join(problems)


def json_lines(text: str) -> list[dict]:
    """Every line of a ``--json`` run's stdout, parsed."""
    return [json.loads(line) for line in text.splitlines()]
