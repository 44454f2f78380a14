"""Stopping the command line, without a server: transfers cancelled and awaited, a transfer
that never ends abandoned, a second signal cutting the clean-up short."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from slixmpp_jet.cli.stopping import Interruption, Work

pytestmark = pytest.mark.asyncio


class FakeTransfer:
    """Stands for a Transfer: ends when cancelled, unless told to hang."""

    def __init__(self, hangs: bool = False) -> None:
        self._end: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.hangs = hangs
        self.cancels = 0

    def done(self) -> bool:
        return self._end.done()

    async def wait(self) -> None:
        await asyncio.shield(self._end)

    def cancel(self) -> None:
        self.cancels += 1
        if not self.hangs and not self._end.done():
            self._end.set_exception(RuntimeError("the transfer was cancelled"))


async def test_stop_cancels_every_transfer_and_waits_for_the_tasks() -> None:
    work = Work()
    transfers = [FakeTransfer(), FakeTransfer()]
    reported = []

    async def finish(transfer: FakeTransfer) -> None:
        work.add(transfer)
        try:
            await transfer.wait()
        except RuntimeError as error:
            reported.append(str(error))

    for transfer in transfers:
        work.spawn(finish(transfer))
    await asyncio.sleep(0)
    assert work.busy

    await work.stop()

    assert not work.busy
    assert [t.cancels for t in transfers] == [1, 1]
    assert reported == ["the transfer was cancelled"] * 2


async def test_a_transfer_that_moves_after_the_stop_is_cancelled_at_once() -> None:
    work = Work()
    await work.stop()
    late = FakeTransfer()

    work.add(late)

    assert late.cancels == 1


async def test_a_transfer_that_never_ends_is_abandoned() -> None:
    work = Work()
    work.add(FakeTransfer(hangs=True))

    await work.stop(timeout=0.01)

    assert not work.busy


async def test_interrupting_the_stop_abandons_everything_and_propagates() -> None:
    work = Work()
    work.add(FakeTransfer(hangs=True))
    stopping = asyncio.ensure_future(work.stop())
    await asyncio.sleep(0)

    stopping.cancel()

    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert not work.busy


async def test_first_signal_is_remembered_every_signal_cancels() -> None:
    main = asyncio.ensure_future(asyncio.sleep(60))
    first: list[int] = []
    interruption = Interruption(main, first.append)
    loop = asyncio.get_running_loop()
    interruption.install(loop)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(asyncio.CancelledError):
            await main
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.sleep(0.01)  # the handler runs on the loop
    finally:
        interruption.remove(loop)

    assert first == [signal.SIGTERM]
    assert interruption.signum == signal.SIGTERM
