"""Ending the command line on Ctrl-C (SIGINT) or SIGTERM: one line, every session ended.

:class:`Work` knows every transfer under way and every task the command started for one;
:meth:`Work.stop` cancels them (each session ends with ``<cancel/>`` and removes its partial
file) and waits until they have cleaned up. :class:`Interruption` turns the signals into a
cancellation of the command's main task, remembering the first signal for the exit status.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from ..file_transfer.transfer import Transfer, TransferResult

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_TIMEOUT = 10.0
"""Seconds the transfers under way get to end their sessions and clean up."""


class Work:
    """The transfers under way and the tasks the command started to drive them."""

    def __init__(self) -> None:
        self.stopping = False
        """Set by :meth:`stop`: transfers added from now on are cancelled at once."""
        self._transfers: dict[Transfer, asyncio.Task[TransferResult]] = {}
        """Each transfer with a task awaiting its end (which removes it from here)."""
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def busy(self) -> bool:
        """Whether a transfer, or a task about to start one, is under way."""
        return bool(self._transfers or self._tasks)

    def add(self, transfer: Transfer) -> None:
        """Follow ``transfer`` until it ends (calling again is harmless)."""
        if transfer in self._transfers or transfer.done():
            return
        ending = asyncio.ensure_future(transfer.wait())
        self._transfers[transfer] = ending
        ending.add_done_callback(lambda _: self._ended(transfer))
        if self.stopping:
            transfer.cancel()

    def _ended(self, transfer: Transfer) -> None:
        ending = self._transfers.pop(transfer)
        if not ending.cancelled():
            ending.exception()  # the command reports how it ended, not this task

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (which reports its own failures) as a task :meth:`stop` waits for."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.debug("a transfer task failed", exc_info=error)

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Cancel every transfer and wait, at most ``timeout`` seconds, until all have ended.

        What has not ended by then is cancelled outright. Interrupting this wait (a second
        Ctrl-C) does the same at once.
        """
        self.stopping = True
        for transfer in list(self._transfers):
            transfer.cancel()
        try:
            async with asyncio.timeout(timeout):
                while pending := self._pending():
                    await asyncio.wait(pending)
        except TimeoutError:
            log.debug("transfers still under way after %g s; abandoning them", timeout)
            await self._abandon()
        except asyncio.CancelledError:
            await self._abandon()
            raise

    def _pending(self) -> set[asyncio.Task[Any]]:
        return {*self._transfers.values(), *self._tasks}

    async def _abandon(self) -> None:
        pending = self._pending()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


class Interruption:
    """SIGINT and SIGTERM cancel the command's main task; the first one sets the exit status.

    ``on_first(signum)`` runs once, when the first signal arrives; each further signal cancels
    the main task again, cutting short whatever clean-up it is waiting for.
    """

    def __init__(self, task: asyncio.Task[Any], on_first: Callable[[int], None]) -> None:
        self._task = task
        self._on_first = on_first
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for signum in SIGNALS:
            loop.add_signal_handler(signum, self._received, signum)

    def remove(self, loop: asyncio.AbstractEventLoop) -> None:
        for signum in SIGNALS:
            loop.remove_signal_handler(signum)

    def _received(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum
            self._on_first(signum)
        self._task.cancel()
