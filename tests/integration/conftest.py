"""Fixtures shared by the integration tests (the server, accounts and clients are in
``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from cli_helpers import CliRunner
from raw_peer import Accepting, RawPeer, online_pair

from slixmpp_jet.testing.clients import disconnect
from slixmpp_jet.testing.prosody import ProsodyServer


@pytest.fixture
def cli(prosody: ProsodyServer) -> Iterator[CliRunner]:
    """``cli(account, command, *args)``: run a command to its end; ``cli.start(...)`` in the
    background (ready once it listens). Background processes are stopped after the test; no
    process may print a traceback."""
    runner = CliRunner(prosody)
    yield runner
    runner.close()


@pytest_asyncio.fixture
async def ours_and_peer(prosody, accounts) -> AsyncIterator[tuple[object, RawPeer]]:
    """Our client and a hand-written Jingle peer (raw stanzas, raw SOCKS5)."""
    ours, peer = await online_pair(prosody, accounts)
    yield ours, peer
    for client in (ours, peer.client):
        await disconnect(client)


@pytest_asyncio.fixture
async def accepting(ours_and_peer, tmp_path) -> AsyncIterator[Accepting]:
    """Our client accepting every offer into ``tmp_path``."""
    ours, _ = ours_and_peer
    application = Accepting(ours, tmp_path)
    yield application
    await application.close()
