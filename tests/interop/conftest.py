"""Fixtures for the opt-in Libervia interop tests (``JET_LIBERVIA=1``, Libervia installed)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from libervia_harness import LiberviaBackend, skip_reason

from slixmpp_jet.jet import omemo_plugin
from slixmpp_jet.testing.clients import connect_with_omemo, disconnect, make_client
from slixmpp_jet.testing.prosody import ProsodyServer


@pytest.fixture(scope="session")
def libervia(prosody: ProsodyServer) -> Iterator[LiberviaBackend]:
    """One Libervia backend for the whole run (it hosts one profile per test)."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    backend = LiberviaBackend(prosody)
    backend.start()
    yield backend
    backend.stop()


@pytest_asyncio.fixture
async def jet_client(prosody: ProsodyServer) -> AsyncIterator[object]:
    """``await jet_client(account)``: a connected slixmpp-jet client with OMEMO."""
    clients = []

    async def create(account, resource="jet"):
        client = make_client(prosody, account, resource)
        clients.append(client)
        client.register_plugin("xep_0384", module=omemo_plugin)
        client.register_plugin("xep_0234")
        await connect_with_omemo(client, prosody)
        return client

    yield create
    for client in clients:
        await disconnect(client)
