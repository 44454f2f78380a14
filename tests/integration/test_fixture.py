"""The Prosody fixture itself: login, roster from befriend(), proxy65 discovery."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]


async def test_befriended_accounts_see_each_other(accounts, client_factory) -> None:
    alice, bob = accounts(2)
    client = await client_factory(alice)
    await client.get_roster()
    assert client.client_roster[bob.jid]["subscription"] == "both"


async def test_proxy65_is_discoverable(accounts, client_factory) -> None:
    (alice,) = accounts(1)
    client = await client_factory(alice, "jet", ["xep_0065"])
    proxies = await client.plugin["xep_0065"].discover_proxies()
    assert any(str(jid) == "proxy.localhost" for jid in proxies)
