"""TLS to the server: the CLI over a Prosody that requires STARTTLS with a self-signed certificate.

One ``ProsodyServer(tls=True)`` for this module; the CLI runs as real processes, as in
``test_cli.py``. Prosody's log says, per session, whether the stream was encrypted and whom it
authenticated, so the tests can tell a refused login from a silently downgraded one.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from slixmpp_jet.cli import main
from slixmpp_jet.testing.clients import connect, disconnect, make_client
from slixmpp_jet.testing.demo import (
    Finished,
    RunningProcess,
    cli_arguments,
    cli_command,
    cli_environment,
    write_random_file,
)
from slixmpp_jet.testing.prosody import (
    Account,
    ProsodyServer,
    log_tail,
    make_self_signed_certificate,
)

UNTRUSTED = "the server's TLS certificate is not trusted"


@pytest.fixture(scope="module")
def tls_server() -> Iterator[ProsodyServer]:
    if shutil.which("prosody") is None or shutil.which("openssl") is None:
        pytest.skip("prosody or openssl is not installed")
    server = ProsodyServer(tls=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def other_certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A second self-signed ``localhost`` certificate and key, not the server's."""
    certificate, key = tmp_path / "other.crt", tmp_path / "other.key"
    make_self_signed_certificate(certificate, key)
    return certificate, key


def tls_arguments(server: ProsodyServer, account: Account, resource: str) -> list[str]:
    """The loopback connection options, but with TLS required (``--plaintext`` dropped)."""
    return [a for a in cli_arguments(server, account, resource) if a != "--plaintext"]


def run_cli(account: Account, command: str, *arguments: str) -> Finished:
    return RunningProcess(cli_command(command, *arguments), cli_environment(account)).finish()


def logins(server: ProsodyServer) -> dict[str, bool]:
    """Every JID that authenticated, and whether its session was encrypted by then."""
    encrypted: set[str] = set()
    found: dict[str, bool] = {}
    for line in (server.directory / "prosody.log").read_text().splitlines():
        fields = line.split("\t")
        if len(fields) < 3:
            continue
        session, message = fields[0].split()[-1], fields[2]
        if message.startswith("Stream encrypted"):
            encrypted.add(session)
        elif message.startswith("Authenticated as "):
            found[message.removeprefix("Authenticated as ").strip()] = session in encrypted
    return found


@contextlib.contextmanager
def direct_tls_listener(certificate: Path, key: Path) -> Iterator[int]:
    """A loopback port that only speaks TLS (as a direct-TLS XMPP port does); yields the port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(5)
            with connection, contextlib.suppress(OSError):  # the client rejects the certificate
                context.wrap_socket(connection, server_side=True).close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stopping.set()
        thread.join()
        listener.close()


def test_default_server_has_no_tls_and_tls_server_requires_it() -> None:
    plain, secured = ProsodyServer(), ProsodyServer(tls=True)
    try:
        plain_config, secured_config = plain.config_text(), secured.config_text()
    finally:
        plain.stop()  # removes the temporary directories; neither was started
        secured.stop()

    assert '"tls"' not in plain_config and "ssl =" not in plain_config
    assert "c2s_require_encryption = false" in plain_config
    assert '"tls";' in secured_config
    assert "c2s_require_encryption = true" in secured_config
    assert f'certificate = "{secured.certificate}"' in secured_config


@pytest.mark.xmpp
@pytest.mark.asyncio
async def test_client_helper_logs_in_over_verified_tls(tls_server) -> None:
    account = tls_server.register()
    client = make_client(tls_server, account, ca_file=tls_server.certificate)
    try:
        await connect(client, tls_server)
        tls = client.transport.get_extra_info("ssl_object")
        assert tls is not None
        assert ("DNS", "localhost") in tls.getpeercert()["subjectAltName"]
    finally:
        await disconnect(client)
    assert logins(tls_server)[account.jid] is True


@pytest.mark.xmpp
@pytest.mark.parametrize("plaintext", [[], ["--plaintext"]], ids=["tls", "plaintext-allowed"])
def test_plain_transfer_over_tls_with_ca_file(tls_server, tmp_path, plaintext) -> None:
    alice, bob = tls_server.register(), tls_server.register()
    tls_server.befriend(alice, bob)
    inbox = tmp_path / "in"
    inbox.mkdir()
    source = tmp_path / "report.bin"
    write_random_file(source, 200_000)
    trust = ["--ca-file", str(tls_server.certificate), *plaintext]
    receiver = RunningProcess(
        cli_command("receive", *tls_arguments(tls_server, bob, "r"), *trust,
                    "--encrypt", "none", "--count", "1", "--dir", str(inbox)),
        cli_environment(bob),
    )  # fmt: skip
    receiver.wait_ready()

    sent = run_cli(alice, "send", *tls_arguments(tls_server, alice, "s"), *trust,
                   "--encrypt", "none", "--to", f"{bob.jid}/r", str(source))  # fmt: skip
    received = receiver.finish() if sent.status == 0 else receiver.stop()

    assert sent.status == 0, sent.stderr + log_tail(tls_server)
    assert received.status == 0, received.stderr
    assert (inbox / "report.bin").read_bytes() == source.read_bytes()
    assert "NOT encrypted" in sent.stdout  # the file itself: --encrypt none
    sessions = logins(tls_server)
    assert sessions[alice.jid] is True and sessions[bob.jid] is True


@pytest.mark.xmpp
@pytest.mark.parametrize("plaintext", [[], ["--plaintext"]], ids=["tls", "plaintext-allowed"])
def test_untrusted_certificate_is_refused_without_downgrade(
    tls_server, tmp_path, other_certificate, plaintext
) -> None:
    alice = tls_server.register()
    source = tmp_path / "f.bin"
    source.write_bytes(b"x")
    send = [*plaintext, "--encrypt", "none", "--to", f"{alice.jid}/x", str(source)]

    without_ca = run_cli(alice, "send", *tls_arguments(tls_server, alice, "a"), *send)
    wrong_ca = run_cli(alice, "send", *tls_arguments(tls_server, alice, "b"),
                       "--ca-file", str(other_certificate[0]), *send)  # fmt: skip

    for refused in (without_ca, wrong_ca):
        assert refused.status == 3, refused.stderr
        assert UNTRUSTED in refused.stderr and "self-signed certificate" in refused.stderr
        assert "--ca-file" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert alice.jid not in logins(tls_server)  # never logged in, not even unencrypted


@pytest.mark.xmpp
def test_untrusted_direct_tls_port_is_refused_at_once(tls_server, other_certificate) -> None:
    alice = tls_server.register()
    with direct_tls_listener(*other_certificate) as port:
        refused = run_cli(alice, "serve", "--jid", alice.jid, "--host", "127.0.0.1",
                          "--port", str(port), "--encrypt", "none", "--dir", ".")  # fmt: skip

    assert refused.status == 3, refused.stderr
    assert UNTRUSTED in refused.stderr and "--ca-file" in refused.stderr


@pytest.mark.parametrize("content", [None, "not a certificate\n"], ids=["missing", "no-cert"])
def test_unusable_ca_file_is_a_usage_error(capsys, monkeypatch, tmp_path, content) -> None:
    monkeypatch.setenv("SLIXMPP_JET_PASSWORD", "irrelevant")
    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_text(content)

    base = ["--jid", "a@localhost", "--host", "127.0.0.1", "--port", "1", "--encrypt", "none"]

    status = main(["serve", *base, "--ca-file", str(ca_file), "--dir", str(tmp_path)])

    assert status == 2
    assert f"--ca-file {ca_file}: cannot read a certificate from it" in capsys.readouterr().err
