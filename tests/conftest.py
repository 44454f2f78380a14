"""Shared fixtures: one throwaway Prosody per test run, fresh accounts and clients per test."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import slixmpp

import slixmpp_jet  # noqa: F401  (registers the plugins)
from slixmpp_jet.testing.clients import connect, disconnect, make_client
from slixmpp_jet.testing.prosody import Account, ProsodyServer

HAVE_PROSODY = shutil.which("prosody") is not None


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
