"""The command line as a user runs it: real processes against the real Prosody."""

from __future__ import annotations

import io
import re
import subprocess

import pytest
from cli_helpers import json_lines
from gpg_helpers import gpg_homes

from slixmpp_jet.cli import main
from slixmpp_jet.cli.connection import build_client
from slixmpp_jet.cli.options import parse
from slixmpp_jet.testing.demo import (
    cli_arguments,
    cli_command,
    cli_environment,
    sha256_of,
    write_random_file,
)

pytestmark = pytest.mark.xmpp


def test_omemo_send_and_receive_with_count_and_json(accounts, cli, dirs) -> None:
    alice, bob = accounts(2)
    outbox, inbox = dirs
    first, second = outbox / "first.bin", outbox / "second.txt"
    write_random_file(first, 600_000)
    second.write_text("the second file\n")
    receiver = cli.start(
        bob, "receive", "--dir", str(inbox), "--count", "2", "--json", resource="r"
    )

    sent = cli(alice, "send", "--to", f"{bob.jid}/r", "--json", str(first), str(second))
    received = receiver.finish()

    assert sent.status == 0, sent.stderr
    assert received.status == 0, received.stderr
    for copy, original in ((inbox / "first.bin", first), (inbox / "second.txt", second)):
        assert copy.read_bytes() == original.read_bytes()
    sent_records, received_records = json_lines(sent.stdout), json_lines(received.stdout)
    assert [r["name"] for r in sent_records] == ["first.bin", "second.txt"]
    assert sorted(r["name"] for r in received_records) == ["first.bin", "second.txt"]
    for record in sent_records + received_records:
        assert record["outcome"] == "completed"
        assert record["envelope"] == "omemo"
        assert record["cipher"] == "aes-128-gcm"
        assert record["transport"] in ("s5b", "ibb")
        assert 0 <= record["stream_seconds"] <= record["seconds"]
    by_name = {r["name"]: r for r in received_records}
    assert by_name["first.bin"]["size"] == 600_000
    assert by_name["first.bin"]["sha256"] == sent_records[0]["sha256"] == sha256_of(first)
    assert by_name["second.txt"]["path"] == str(inbox / "second.txt")


def test_plain_transfer_over_ibb_prints_the_verified_hash(accounts, cli, dirs) -> None:
    alice, bob = accounts(2)
    outbox, inbox = dirs
    source = outbox / "notes.txt"
    write_random_file(source, 1_000_000)
    receiver = cli.start(
        bob, "receive", "--dir", str(inbox), "--count", "1", "--encrypt", "none", resource="r"
    )

    sent = cli(
        alice, "send", "--to", f"{bob.jid}/r", "--encrypt", "none", "--transport", "ibb",
        str(source),
    )  # fmt: skip
    received = receiver.finish()

    assert sent.status == 0, sent.stderr
    assert received.status == 0, received.stderr
    digest = sha256_of(source)
    assert (inbox / "notes.txt").read_bytes() == source.read_bytes()
    assert "NOT encrypted" in sent.stdout and "in-band (IBB)" in sent.stdout
    assert f"sha-256 {digest}  verified by the receiver" in sent.stdout
    assert f"sha-256 {digest}  verified (matches the sender's checksum)" in received.stdout
    assert re.search(r"^notes\.txt: \d+% \(", received.stderr, re.M)  # plain lines, no terminal


def test_openpgp_send_and_receive_with_keys_found_in_pep(accounts, cli, dirs) -> None:
    alice, bob = accounts(2)
    outbox, inbox = dirs
    source = outbox / "signed.bin"
    write_random_file(source, 20_000)
    with gpg_homes() as new_home:
        homes = {}
        for account in (alice, bob):
            homes[account.jid] = new_home()
            homes[account.jid].new_key(f"xmpp:{account.jid}")
        receiver = cli.start(bob, "receive", "--dir", str(inbox), "--count", "1", "--json",
                             "--encrypt", "openpgp", "--gnupg-home", str(homes[bob.jid].path),
                             resource="r")  # fmt: skip

        sent = cli(alice, "send", "--to", f"{bob.jid}/r", "--encrypt", "openpgp",
                   "--gnupg-home", str(homes[alice.jid].path), str(source))  # fmt: skip
        received = receiver.finish()

    assert sent.status == 0, sent.stderr
    assert "encrypted (OpenPGP, aes-256-gcm)" in sent.stdout
    assert received.status == 0, received.stderr
    [record] = json_lines(received.stdout)
    assert (record["envelope"], record["outcome"]) == ("openpgp", "completed")
    assert record["sha256"] == sha256_of(source)
    assert (inbox / "signed.bin").read_bytes() == source.read_bytes()


def test_a_sign_only_openpgp_key_is_not_published(accounts, cli, dirs) -> None:
    [alice] = accounts(1)
    _, inbox = dirs
    with gpg_homes() as new_home:
        home = new_home()
        fingerprint = home.new_key(f"xmpp:{alice.jid}", can_encrypt=False)
        refused = cli(alice, "receive", "--dir", str(inbox), "--encrypt", "openpgp",
                      "--gnupg-home", str(home.path))  # fmt: skip

    assert refused.status == 3
    assert f"our OpenPGP key {fingerprint} cannot encrypt (a sign-only key)" in refused.stderr
    assert "gpg --quick-add-key" in refused.stderr


def test_request_and_serve_refuses_paths_outside_the_directory(accounts, cli, tmp_path) -> None:
    alice, bob = accounts(2)
    served, inbox = tmp_path / "served", tmp_path / "in"
    served.mkdir()
    (tmp_path / "secret.txt").write_text("not for you\n")
    write_random_file(served / "report.bin", 300_000)
    server = cli.start(bob, "serve", "--dir", str(served), "--json", resource="s")

    fetched = cli(alice, "request", "--from", f"{bob.jid}/s", "--name", "report.bin",
                  "--mkdir", "--dir", str(inbox), "--json")  # fmt: skip
    escapes = [
        cli.start(alice, "request", "--from", f"{bob.jid}/s", "--name", name,
                  "--mkdir", "--dir", str(inbox), "--encrypt", "none", resource=name[3:6],
                  ready=False)
        for name in ("../secret.txt", "../etc/passwd")
    ]  # fmt: skip
    escapes = [process.finish() for process in escapes]
    stopped = server.stop()

    assert fetched.status == 0, fetched.stderr
    [record] = json_lines(fetched.stdout)
    assert record["outcome"] == "completed" and record["envelope"] == "omemo"
    assert record["sha256"] == sha256_of(served / "report.bin")
    assert (inbox / "report.bin").read_bytes() == (served / "report.bin").read_bytes()
    for name, refused in zip(("../secret.txt", "../etc/passwd"), escapes, strict=True):
        assert refused.status == 1
        assert f"error: receiving {name} from {bob.jid}/s: refused" in refused.stderr
        assert "file not available" in refused.stderr
    assert sorted(p.name for p in inbox.iterdir()) == ["report.bin"]
    assert stopped.status == 0, stopped.stderr
    served_record, *refused_records = json_lines(stopped.stdout)
    assert served_record["direction"] == "send" and served_record["name"] == "report.bin"
    assert [r["outcome"] for r in refused_records] == ["refused", "refused"]  # reported, not failed
    assert all("file not available" in r["error"] for r in refused_records), refused_records


def test_declined_offer_fails_the_sender_and_the_rest_still_arrive(accounts, cli, dirs) -> None:
    alice, bob = accounts(2)
    outbox, inbox = dirs
    write_random_file(outbox / "big.bin", 50_000)
    write_random_file(outbox / "small.bin", 500)
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--count", "1",
                         "--max-size", "1K", "--encrypt", "none", resource="r")  # fmt: skip

    sent = cli(alice, "send", "--to", f"{bob.jid}/r", "--json", "--encrypt", "none",
               str(outbox / "big.bin"), str(outbox / "small.bin"))  # fmt: skip
    received = receiver.finish()

    assert sent.status == 1
    big, small = json_lines(sent.stdout)
    assert big["outcome"] == "declined" and big["reason"] == "decline"
    assert small["outcome"] == "completed"
    assert "error: sending big.bin to" in sent.stderr
    assert "declined" in sent.stderr and "files over 1024 bytes are refused" in sent.stderr
    assert received.status == 0, received.stderr
    assert "refused an offer from" in received.stderr
    assert sorted(p.name for p in inbox.iterdir()) == ["small.bin"]


def test_receiver_from_filter_declines_other_senders(accounts, cli, dirs) -> None:
    alice, bob, carol = accounts(3)
    outbox, inbox = dirs
    write_random_file(outbox / "a.bin", 100)
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--from", carol.jid,
                         "--encrypt", "none", resource="r")  # fmt: skip

    sent = cli(alice, "send", "--to", f"{bob.jid}/r", "--encrypt", "none", str(outbox / "a.bin"))
    stopped = receiver.stop()

    assert sent.status == 1
    assert "not accepted from this account" in sent.stderr  # nothing said of whom it accepts
    assert stopped.status == 0  # stopped by the user, nothing failed
    assert f"refused an offer from {alice.jid}/" in stopped.stderr
    assert list(inbox.iterdir()) == []


def test_encryption_the_peer_cannot_do_is_refused_and_only_none_sends_plaintext(
    accounts, cli, dirs
) -> None:
    alice, bob = accounts(2)
    outbox, inbox = dirs
    write_random_file(outbox / "secret.bin", 1000)
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--encrypt", "none",
                         "--count", "1", resource="r")  # fmt: skip

    refused = cli(alice, "send", "--to", f"{bob.jid}/r", "--encrypt", "omemo",
                  str(outbox / "secret.bin"))  # fmt: skip
    automatic = cli(alice, "send", "--to", f"{bob.jid}/r", str(outbox / "secret.bin"))
    nothing_arrived = list(inbox.iterdir())
    plain = cli(alice, "send", "--to", f"{bob.jid}/r", "--json", "--encrypt", "none",
                str(outbox / "secret.bin"))  # fmt: skip
    received = receiver.finish()

    assert refused.status == 1
    assert "cannot receive OMEMO-encrypted file transfers" in refused.stderr
    assert "refusing to send anything unencrypted" in refused.stderr
    assert automatic.status == 1  # no --encrypt: encrypted or nothing
    assert "cannot receive any encrypted file transfers" in automatic.stderr
    assert "--encrypt none" in automatic.stderr
    assert nothing_arrived == []
    assert plain.status == 0, plain.stderr
    [record] = json_lines(plain.stdout)
    assert record["envelope"] is None and record["cipher"] is None
    assert received.status == 0, received.stderr
    assert [p.name for p in inbox.iterdir()] == ["secret.bin"]


def test_manual_trust_without_a_terminal_refuses_unknown_devices(accounts, cli, dirs) -> None:
    alice, bob = accounts(2)
    outbox, inbox = dirs
    write_random_file(outbox / "x.bin", 1000)
    receiver = cli.start(bob, "receive", "--dir", str(inbox), "--trust", "manual", resource="r")

    sent = cli(alice, "send", "--to", f"{bob.jid}/r", str(outbox / "x.bin"))
    stopped = receiver.stop()

    assert sent.status == 1
    assert "security check failed" in sent.stderr and "not trusted" in sent.stderr
    assert "refusing untrusted OMEMO device" in stopped.stderr
    assert list(inbox.iterdir()) == []


def test_wrong_password_is_reported(accounts, cli, tmp_path) -> None:
    [alice] = accounts(1)
    password_file = tmp_path / "password"
    password_file.write_text("not the password\n")
    source = tmp_path / "f.bin"
    source.write_bytes(b"x")

    failed = cli(alice, "send", "--password-file", str(password_file), "--encrypt", "none",
                 "--json", "--to", f"{alice.jid}/other", str(source))  # fmt: skip

    assert failed.status == 3
    assert f"cannot log in as {alice.jid}: wrong password" in failed.stderr
    assert "Traceback" not in failed.stderr
    [record] = json_lines(failed.stdout)  # scripts see it too
    assert record == {
        "outcome": "error",
        "error": f"cannot log in as {alice.jid}: wrong password or no such account "
        "(not-authorized)",
        "exit_status": 3,
    }


def test_unknown_peer_is_reported(accounts, cli, tmp_path) -> None:
    [alice] = accounts(1)
    source = tmp_path / "f.bin"
    source.write_bytes(b"x")

    failed = cli(alice, "send", "--encrypt", "none", "--to", "nobody@localhost/x", str(source))

    assert failed.status == 1
    assert "nobody@localhost/x is not reachable: it is offline or does not exist" in failed.stderr


def test_tls_is_required_unless_plaintext_is_allowed(prosody, accounts, tmp_path) -> None:
    [alice] = accounts(1)
    source = tmp_path / "f.bin"
    source.write_bytes(b"x")
    arguments = [a for a in cli_arguments(prosody, alice, "tls") if a != "--plaintext"]

    failed = subprocess.run(
        cli_command("send", *arguments, "--to", f"{alice.jid}/x", str(source)),
        env=cli_environment(alice),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert failed.returncode == 3
    assert "the server offered no TLS" in failed.stderr
    assert "--plaintext" in failed.stderr


def test_usage_errors_exit_2_before_connecting(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLIXMPP_JET_PASSWORD", "irrelevant")
    missing = tmp_path / "missing.bin"
    base = ["--jid", "a@localhost", "--host", "127.0.0.1", "--port", "1"]

    assert main(["send", *base, "--to", "b@localhost/r", str(missing)]) == 2
    assert f"{missing}: no such file" in capsys.readouterr().err
    assert main(["send", *base, "--to", "b@localhost/r", str(tmp_path / "fifo")]) == 2
    missing.write_bytes(b"x")
    assert main(["send", *base, "--to", "b@@localhost", str(missing)]) == 2
    assert "--to 'b@@localhost' is not a JID" in capsys.readouterr().err


def test_no_password_anywhere_is_a_usage_error(capsys, monkeypatch) -> None:
    monkeypatch.delenv("SLIXMPP_JET_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO())  # not a terminal: nobody to ask

    assert main(["serve", "--jid", "a@localhost", "--dir", "."]) == 2
    assert "no password" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["receive", "--help"], ["Blind Trust Before Verification", "ONLY for a test server"]),
        (["--help"], ["SLIXMPP_JET_PASSWORD", "Exit status: 0 when every transfer completed"]),
        (["--help"], ["130 when interrupted by Ctrl-C (SIGINT), 143 by SIGTERM"]),
        (["serve", "--help"], ["--idle-timeout SECONDS", "no byte has moved for this long"]),
        (["request", "--help"], ["--accept-timeout SECONDS", "default: 300"]),
    ],
)
def test_help_documents_trust_plaintext_and_passwords(capsys, argv, expected) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    for text in expected:
        assert text in shown


def test_serving_encrypted_only_refuses_a_plain_request(accounts, cli, tmp_path) -> None:
    alice, bob = accounts(2)
    served, inbox = tmp_path / "served", tmp_path / "in"
    served.mkdir()
    write_random_file(served / "report.bin", 1000)
    server = cli.start(bob, "serve", "--dir", str(served), "--encrypt", "omemo", resource="s")

    plain = cli(alice, "request", "--from", f"{bob.jid}/s", "--name", "report.bin",
                "--mkdir", "--dir", str(inbox), "--encrypt", "none")  # fmt: skip
    server.stop()

    assert plain.status == 1
    assert "security" in plain.stderr
    assert not inbox.exists() or list(inbox.iterdir()) == []


def test_request_with_max_size_refuses_a_larger_file(accounts, cli, tmp_path) -> None:
    alice, bob = accounts(2)
    served, inbox = tmp_path / "served", tmp_path / "in"
    served.mkdir()
    write_random_file(served / "big.bin", 64 * 1024)
    server = cli.start(bob, "serve", "--dir", str(served), "--encrypt", "none", resource="s")

    fetched = cli(alice, "request", "--from", f"{bob.jid}/s", "--name", "big.bin",
                  "--mkdir", "--dir", str(inbox), "--encrypt", "none", "--max-size", "1K",
                  "--json")  # fmt: skip
    server.stop()

    assert fetched.status == 1, fetched.stderr
    [record] = json_lines(fetched.stdout)
    assert (record["outcome"], record["reason"]) == ("failed", "media-error"), record
    assert "over 1024 bytes" in record["error"], record
    assert list(inbox.iterdir()) == []


def test_time_limits_reach_the_file_transfer_plugin(monkeypatch) -> None:
    monkeypatch.setenv("SLIXMPP_JET_PASSWORD", "irrelevant")
    base = ["--jid", "a@localhost", "--encrypt", "none"]

    sending = build_client(parse(["send", *base, "--to", "b@localhost/r", "f.bin",
                                  "--idle-timeout", "2.5", "--accept-timeout", "7"]))  # fmt: skip
    receiving = build_client(parse(["receive", *base, "--dir", "."]))

    assert sending.plugin["xep_0234"].idle_timeout == 2.5
    assert sending.plugin["xep_0234"].accept_timeout == 7
    assert receiving.plugin["xep_0234"].idle_timeout == 60
    assert receiving.plugin["xep_0234"].accept_timeout is None  # it accepts, never waits for one
    assert build_client(parse(["request", *base, "--from", "b@localhost/r", "--name", "x",
                               "--dir", "."])).plugin["xep_0234"].accept_timeout == 300  # fmt: skip


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf"])
@pytest.mark.parametrize("option", ["--idle-timeout", "--accept-timeout"])
def test_time_limits_must_be_positive_numbers(capsys, option, value) -> None:
    argv = ["send", "--jid", "a@localhost", "--to", "b@localhost/r", "f.bin", option, value]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert f"{option}: {value!r} is not a number of seconds above 0" in capsys.readouterr().err


def test_accept_timeout_is_only_for_commands_that_wait_for_an_answer(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["receive", "--jid", "a@localhost", "--dir", ".", "--accept-timeout", "5"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --accept-timeout" in capsys.readouterr().err
