"""Connect slixmpp clients to a :class:`~slixmpp_jet.testing.prosody.ProsodyServer`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import slixmpp

from .prosody import Account, ProsodyServer


def make_client(
    server: ProsodyServer,
    account: Account,
    resource: str = "jet",
    plugins: Iterable[str] = (),
    ca_file: Path | None = None,
) -> slixmpp.ClientXMPP:
    """A client for ``account``, plugins registered: on the unencrypted loopback server, or
    with ``ca_file`` (a ``tls=True`` server's :attr:`~ProsodyServer.certificate`) over STARTTLS
    trusting that certificate."""
    plaintext = ca_file is None
    client = slixmpp.ClientXMPP(
        f"{account.jid}/{resource}",
        account.password,
        plugin_config={"feature_mechanisms": {"unencrypted_scram": plaintext}},
    )
    client.enable_direct_tls = False
    client.enable_starttls = not plaintext
    client.enable_plaintext = plaintext
    if ca_file is not None:
        client.ca_certs = ca_file
    for name in plugins:
        client.register_plugin(name)
    return client


async def connect(client: slixmpp.ClientXMPP, server: ProsodyServer, timeout: float = 15) -> None:
    """Connect, send presence and wait until the session has started."""
    started: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_start(_event: object) -> None:
        client.send_presence()
        if not started.done():
            started.set_result(None)

    def on_failure(_event: object) -> None:
        if not started.done():
            started.set_exception(RuntimeError(f"{client.boundjid}: authentication failed"))

    client.add_event_handler("session_start", on_start, disposable=True)
    client.add_event_handler("failed_all_auth", on_failure, disposable=True)
    client.connect("127.0.0.1", server.c2s_port)
    await asyncio.wait_for(started, timeout)


async def disconnect(client: slixmpp.ClientXMPP, timeout: float = 5) -> None:
    """Disconnect and wait for the stream to close."""
    if client.is_connected():
        client.disconnect(wait=False)
        await asyncio.wait_for(client.disconnected, timeout)


async def connect_with_omemo(
    client: slixmpp.ClientXMPP, server: ProsodyServer, timeout: float = 30
) -> None:
    """Connect a client that has ``xep_0384`` loaded and wait until OMEMO is initialised."""
    initialized: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_initialized(_event: object) -> None:
        if not initialized.done():
            initialized.set_result(None)

    client.add_event_handler("omemo_initialized", on_initialized, disposable=True)
    await connect(client, server, timeout)
    await asyncio.wait_for(initialized, timeout)
