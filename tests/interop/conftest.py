"""Fixtures for the opt-in Libervia interop tests (``JET_LIBERVIA=1``, Libervia installed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from libervia_harness import LiberviaBackend, skip_reason

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
