"""Shared fixtures: one throwaway Prosody per test run, fresh accounts and clients per test.

Every test also fails on an orphaned task or a console traceback: an ``asyncio`` log record at
ERROR or above ("Task exception was never retrieved", "Fatal error: protocol.data_received()
call failed", ...) or a ``slixmpp_jet`` record at ERROR or above carrying a traceback. Mark a
test ``allow_error_logs`` when it provokes such a record on purpose.
"""

from __future__ import annotations

import gc
import logging
import shutil
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import slixmpp

import slixmpp_jet  # noqa: F401  (registers the plugins)
from slixmpp_jet.testing.clients import connect, connect_with_omemo, disconnect, make_client
from slixmpp_jet.testing.prosody import Account, ProsodyServer

HAVE_PROSODY = shutil.which("prosody") is not None
ALLOW_ERROR_LOGS = "allow_error_logs"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{ALLOW_ERROR_LOGS}: the test provokes an asyncio error or a logged slixmpp_jet "
        "traceback on purpose; do not fail it for that",
    )


class _ErrorRecords(logging.Handler):
    """Keeps the records that mean an orphaned task or a traceback on the console."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if _is_asyncio(record.name) or (
            record.name.partition(".")[0] == "slixmpp_jet" and record.exc_info is not None
        ):
            self.records.append(record)


def _is_asyncio(name: str) -> bool:
    return name == "asyncio" or name.startswith("asyncio.")


_ERROR_RECORDS = pytest.StashKey[_ErrorRecords]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Everything imported so far lives for the whole run: keep it out of every later
    ``gc.collect()``, which then only scans what the tests themselves made (much faster)."""
    gc.collect()
    gc.freeze()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Watch the log from before the first fixture of ``item`` is set up (what earlier tests
    left behind was collected, and checked, at their own teardown)."""
    handler = _ErrorRecords()
    logging.getLogger().addHandler(handler)
    item.stash[_ERROR_RECORDS] = handler
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """Fail ``item`` on an unretrieved task exception or a logged traceback (see above).

    Checked once every fixture is torn down, event loop and clients included; ``gc.collect()``
    first, because "Task exception was never retrieved" and "Task was destroyed but it is
    pending!" are only logged when the task is garbage-collected.
    """
    handler = item.stash[_ERROR_RECORDS]
    try:
        result = yield
    finally:
        gc.collect()
        logging.getLogger().removeHandler(handler)
    if handler.records and item.get_closest_marker(ALLOW_ERROR_LOGS) is None:
        formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
        shown = "\n\n".join(formatter.format(record) for record in handler.records)
        pytest.fail(f"orphaned task or logged traceback during the test:\n{shown}", pytrace=False)
    return result


@pytest.fixture(scope="session", autouse=True)
def data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``$XDG_DATA_HOME`` for the whole run (the CLI keeps its default OMEMO stores there):
    never the real one. Accounts are fresh in every test, so their stores never meet."""
    directory = tmp_path_factory.mktemp("xdg-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(directory))
        yield directory


@pytest.fixture(scope="session")
def prosody() -> Iterator[ProsodyServer]:
    if not HAVE_PROSODY:
        pytest.skip("prosody is not installed")
    server = ProsodyServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def accounts(prosody: ProsodyServer) -> Callable[[int], list[Account]]:
    """``accounts(n)``: n fresh accounts, all mutually subscribed."""

    def create(count: int) -> list[Account]:
        made = [prosody.register() for _ in range(count)]
        prosody.befriend(*made)
        return made

    return create


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """An outbox and an inbox directory for a transfer test."""
    outbox, inbox = tmp_path / "out", tmp_path / "in"
    outbox.mkdir()
    inbox.mkdir()
    return outbox, inbox


@pytest_asyncio.fixture
async def client_factory(
    prosody: ProsodyServer,
) -> AsyncIterator[Callable[[Account, str, Iterable[str]], object]]:
    """``await client_factory(account, resource, plugins)``: a connected client, closed after."""
    clients: list[slixmpp.ClientXMPP] = []

    async def create(
        account: Account, resource: str = "jet", plugins: Iterable[str] = ()
    ) -> slixmpp.ClientXMPP:
        client = make_client(prosody, account, resource, plugins)
        clients.append(client)
        await connect(client, prosody)
        return client

    yield create
    for client in clients:
        await disconnect(client)


@pytest_asyncio.fixture
async def jet_client(prosody: ProsodyServer) -> AsyncIterator[Callable[..., object]]:
    """``await jet_client(account, resource, omemo=True, **omemo_config)``: a connected client
    with ``xep_0234`` and, unless ``omemo=False``, OMEMO ready; closed after the test."""
    from slixmpp_jet.jet import omemo_plugin  # here: importing OMEMO takes a second

    clients: list[slixmpp.ClientXMPP] = []

    async def create(
        account: Account, resource: str = "jet", omemo: bool = True, **omemo_config: object
    ) -> slixmpp.ClientXMPP:
        client = make_client(prosody, account, resource)
        clients.append(client)
        if omemo:
            client.register_plugin("xep_0384", omemo_config, module=omemo_plugin)
        client.register_plugin("xep_0234")
        await (connect_with_omemo if omemo else connect)(client, prosody)
        return client

    yield create
    for client in clients:
        await disconnect(client)
