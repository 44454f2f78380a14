"""Logging in for the command line: the client, its plugins, TLS, readable login failures,
and what losing the stream means: ``receive`` and ``serve`` connect again, ``send`` and
``request`` fail with a clear message."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import slixmpp
from slixmpp import JID
from slixmpp.jid import InvalidJID

from .._plugins import loaded
from ..file_transfer.plugin import XEP_0234
from ..jet.openpgp import OpenPGPEnvelope
from ..jet.plugin import XEP_0391
from ..reconnect import Reconnector
from ..transports.webrtc import aiortc_available
from .addressing import watch_presence
from .failures import EXIT_CONNECT, EXIT_USAGE, CliError, explain
from .options import Options

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 30.0
DISCONNECT_TIMEOUT = 5.0
DEFAULT_PORT = 5222


def account_jid(options: Options) -> JID:
    """The full JID to log in as: ``--jid`` with ``--resource`` (or a random resource)."""
    try:
        jid = JID(options.jid)
    except InvalidJID as error:
        raise CliError(f"--jid {options.jid!r} is not a JID: {error}", EXIT_USAGE) from None
    if not jid.user:
        raise CliError(f"--jid {options.jid!r} needs a user part (user@domain)", EXIT_USAGE)
    resource = options.resource or jid.resource or f"jet-{secrets.token_hex(3)}"
    return JID(f"{jid.bare}/{resource}")


def build_client(options: Options) -> slixmpp.ClientXMPP:
    """A client with the file-transfer plugins, and OMEMO when the options may need it."""
    client = slixmpp.ClientXMPP(
        str(account_jid(options)),
        options.password,
        plugin_config={"feature_mechanisms": {"unencrypted_scram": options.plaintext}},
    )
    if options.plaintext:
        client.enable_direct_tls = False
        client.enable_plaintext = True
    if options.ca_file is not None:
        client.ca_certs = _readable_ca_file(options.ca_file)
    if options.no_direct:
        client.register_plugin("xep_0260", {"direct": False})
    if options.transport == "webrtc":
        _use_data_channel(client)
    client.register_plugin("xep_0234")  # pulls in Jingle, SOCKS5, IBB and JET
    watch_presence(client)  # for --to/--from given as a bare JID
    if options.command in ("receive", "serve") and options.transport != "auto":
        _only_transport(client, options.transport)
    file_transfer: XEP_0234 = loaded(client, "xep_0234")
    file_transfer.idle_timeout = options.idle_timeout
    file_transfer.accept_timeout = options.accept_timeout
    if options.wants_omemo:
        from ..jet import omemo_plugin  # here, not above: OMEMO takes a second to import

        config: dict[str, Any] = {"trust": options.trust, "trust_callback": _ask_trust}
        if options.omemo_store is not None:
            config["storage_path"] = str(options.omemo_store)
        client.register_plugin("xep_0384", config, module=omemo_plugin)
    return client


def _use_data_channel(client: slixmpp.ClientXMPP) -> None:
    """Load the WebRTC data-channel transport, which needs the ``webrtc`` extra."""
    if not aiortc_available():
        message = "--transport webrtc needs aiortc: pip install 'slixmpp-jet[webrtc]'"
        raise CliError(message, EXIT_USAGE)
    client.register_plugin("jingle_webrtc_datachannel")


def _only_transport(client: slixmpp.ClientXMPP, transport: str) -> None:
    """For the waiting commands: take only ``transport``. Refusing IBB is plain (it is not
    offered or accepted); refusing SOCKS5 means answering a SOCKS5 offer with no candidates and
    trying none of the peer's, so that the sender falls back to IBB (transport-replace)."""
    if transport == "ibb":
        socks5 = loaded(client, "xep_0260")
        socks5.direct = socks5.use_proxy = socks5.use_peer_candidates = False
    else:
        file_transfer: XEP_0234 = loaded(client, "xep_0234")
        file_transfer.transports = (transport,)


def _readable_ca_file(path: Path) -> Path:
    """``path`` if it holds a PEM certificate; checked now, because slixmpp would only fail
    while connecting, and then as "no answer from the server"."""
    try:
        ssl.create_default_context(cafile=path)
    except OSError as error:  # ssl.SSLError included: a file without a certificate
        raise CliError(
            f"--ca-file {path}: cannot read a certificate from it ({error.strerror or error})",
            EXIT_USAGE,
        ) from None
    return path


def _ask_trust(bare_jid: str, device_id: int, fingerprint: str) -> bool:
    """``--trust manual``: ask on the terminal; without one, refuse the device."""
    if not sys.stdin.isatty():
        print(
            f"refusing untrusted OMEMO device {device_id} of {bare_jid} ({fingerprint}); "
            "run on a terminal to decide, or use --trust blind",
            file=sys.stderr,
        )
        return False
    print(
        f"\nNew OMEMO device {device_id} of {bare_jid}\n  fingerprint {fingerprint}",
        file=sys.stderr,
    )
    print(
        "Trust it? Compare the fingerprint with your contact first. [y/N] ", end="", file=sys.stderr
    )
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _is_encrypted(client: slixmpp.ClientXMPP) -> bool:
    transport = client.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


async def _log_in(client: slixmpp.ClientXMPP, options: Options) -> None:
    """Connect and wait for the session (and OMEMO); a :class:`CliError` says why not."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    omemo_ready: asyncio.Future[None] = loop.create_future()
    refusals: list[str] = []
    network_errors: list[str] = []
    who = client.boundjid.bare

    def fail(message: str) -> None:
        if not ready.done():
            ready.set_exception(CliError(message, EXIT_CONNECT))

    def on_failed_auth(stanza: Any) -> None:
        refusals.append(str(stanza["condition"]) or "not-authorized")

    def on_failed_all_auth(_event: object) -> None:
        if refusals:
            fail(f"cannot log in as {who}: wrong password or no such account ({refusals[-1]})")
        elif not _is_encrypted(client) and not options.plaintext:
            fail(
                f"cannot log in as {who}: the server offered no TLS, and passwords are not sent "
                "unencrypted (--plaintext allows that, for a loopback test server only)"
            )
        else:
            fail(f"cannot log in as {who}: the server offers no login method we can use")

    def on_session_start(_event: object) -> None:
        if not options.plaintext and not _is_encrypted(client):
            fail("the connection to the server is not encrypted; refusing to go on")
            return
        client.send_presence()
        if not ready.done():
            ready.set_result(None)

    def on_untrusted_certificate(error: object) -> None:
        fail(
            f"the server's TLS certificate is not trusted ({error}); for your own server with "
            "a self-signed certificate, pass that certificate with --ca-file"
        )

    def on_connection_failed(error: object) -> None:
        if isinstance(error, ssl.SSLCertVerificationError):  # direct TLS: give up, as STARTTLS
            on_untrusted_certificate(error)
        network_errors.append(explain(error) if isinstance(error, BaseException) else str(error))

    def on_retry(_delay: object) -> None:
        last = network_errors[-1] if network_errors else "no answer"
        fail(f"cannot connect to the server for {who}: {last}")

    def on_omemo(_event: object) -> None:
        if not omemo_ready.done():
            omemo_ready.set_result(None)

    handlers = {
        "failed_auth": on_failed_auth,
        "failed_all_auth": on_failed_all_auth,
        "session_start": on_session_start,
        "connection_failed": on_connection_failed,
        "ssl_invalid_chain": on_untrusted_certificate,
        "reconnect_delay": on_retry,
        "omemo_initialized": on_omemo,
    }
    for event, handler in handlers.items():
        client.add_event_handler(event, handler)
    host = options.host or (client.boundjid.domain if options.port else None)
    port = options.port or (DEFAULT_PORT if options.host else None)
    try:
        client.connect(host, port)
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await ready
            if options.wants_omemo:
                await omemo_ready
    except TimeoutError:
        logged_in = ready.done() and not ready.cancelled()  # the timeout cancels a pending one
        stage = "OMEMO did not start" if logged_in else "no answer from the server"
        raise CliError(f"cannot log in as {who}: {stage}", EXIT_CONNECT) from None
    finally:
        for event, handler in handlers.items():
            client.del_event_handler(event, handler)


async def _add_openpgp(client: slixmpp.ClientXMPP, options: Options) -> None:
    """Add the OpenPGP envelope and publish our public key so peers can find it."""
    home = options.gnupg_home or Path(os.environ.get("GNUPGHOME", Path.home() / ".gnupg"))
    envelope = OpenPGPEnvelope(client, home)
    jet_plugin: XEP_0391 = loaded(client, "xep_0391")
    jet_plugin.add_envelope(envelope)
    try:
        await envelope.publish_key()
    except Exception as error:
        raise CliError(f"cannot use OpenPGP: {explain(error)}", EXIT_CONNECT) from None


def _on_new_session(client: slixmpp.ClientXMPP, options: Options) -> None:
    """A session after reconnecting: the login's encryption check again, then presence."""
    if not options.plaintext and not _is_encrypted(client):
        log.warning("the new connection to the server is not encrypted; dropping it")
        client.abort()
        return
    client.send_presence()


class LostStream:
    """Losing the stream for good cancels ``task`` and keeps why.

    For commands that do not reconnect that is any loss (``disconnected``); for those that do,
    the reconnector giving up (``jet_reconnect_stopped``). :meth:`close` before disconnecting
    on purpose.
    """

    def __init__(
        self, client: slixmpp.ClientXMPP, task: asyncio.Task[Any], event: str = "disconnected"
    ) -> None:
        self._client = client
        self._task = task
        self._event = event
        self.reason: str | None = None
        """Why the stream ended, once it did."""
        client.add_event_handler(event, self._on_lost)

    def _on_lost(self, reason: object) -> None:
        if self.reason is None:
            self.reason = str(reason or "the server closed the stream")
            self._task.cancel()

    def close(self) -> None:
        self._client.del_event_handler(self._event, self._on_lost)


@asynccontextmanager
async def connected(
    options: Options, stay_online: bool = False
) -> AsyncIterator[slixmpp.ClientXMPP]:
    """A logged-in client, ready to transfer; disconnected on the way out.

    ``stay_online``: after losing the stream, connect again (backoff and a warning on the log,
    see :class:`~slixmpp_jet.reconnect.Reconnector`) until the way out.
    """
    client = build_client(options)
    reconnector = Reconnector(client)
    try:
        await _log_in(client, options)
        if options.wants_openpgp:
            await _add_openpgp(client, options)
        # What login built lives as long as the process: keep it out of the collector's scans,
        # which otherwise revisit all of it while a transfer allocates its small objects.
        gc.freeze()
        if stay_online:
            client.add_event_handler("session_start", lambda _: _on_new_session(client, options))
            reconnector.start()
        yield client
    finally:
        reconnector.stop()
        client.cancel_connection_attempt()
        if client.is_connected():
            try:
                async with asyncio.timeout(DISCONNECT_TIMEOUT):
                    await client.disconnect()
            except TimeoutError:
                client.abort()
            except asyncio.CancelledError:  # interrupted again while leaving: leave at once
                client.abort()
                raise
