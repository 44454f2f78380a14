"""The command line's choice of OMEMO store: one per account, locked while a run uses it."""

from __future__ import annotations

import pytest

from slixmpp_jet.cli.failures import CliError
from slixmpp_jet.cli.omemo_store import claimed_store, data_home, store_directory
from slixmpp_jet.cli.options import Options

JID = "alice@example.org"


def options(command="send", **fields) -> Options:
    return Options(command=command, jid=f"{JID}/laptop", password="secret", **fields)


@pytest.fixture(autouse=True)
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def test_the_default_store_is_per_account_under_xdg_data_home(data):
    with claimed_store(options()) as claimed:
        assert claimed.omemo_store == data / "slixmpp-jet" / "omemo" / f"{JID}.json"
    assert store_directory().stat().st_mode & 0o777 == 0o700


def test_without_xdg_data_home_it_is_under_local_share(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_home() == tmp_path / ".local" / "share"


def test_runs_at_once_take_the_next_free_store_and_free_it_after(data):
    directory = data / "slixmpp-jet" / "omemo"
    with claimed_store(options()) as first, claimed_store(options()) as second:
        assert first.omemo_store == directory / f"{JID}.json"
        assert second.omemo_store == directory / f"{JID}.2.json"
        with claimed_store(options()) as third:
            assert third.omemo_store == directory / f"{JID}.3.json"
    with claimed_store(options()) as later:
        assert later.omemo_store == directory / f"{JID}.json"


def test_an_explicit_store_in_use_is_refused(tmp_path):
    store = tmp_path / "mine.json"
    with claimed_store(options(omemo_store=store)) as claimed:
        assert claimed.omemo_store == store
        with pytest.raises(CliError, match=f"--omemo-store {store} is in use"):
            claimed_store(options(omemo_store=store)).__enter__()
    with claimed_store(options(omemo_store=store)):
        pass  # free again


def test_the_omemo_command_wants_the_main_store_or_nothing(data):
    with claimed_store(options()) as running:
        assert running.omemo_store is not None
        with pytest.raises(CliError, match=r"in use by another slixmpp-jet run of .*stop it"):
            claimed_store(options("omemo", omemo_action="list")).__enter__()
    with claimed_store(options("omemo", omemo_action="list")) as managing:
        assert managing.omemo_store == running.omemo_store


def test_runs_without_omemo_use_no_store(data):
    with claimed_store(options(encrypt="none")) as claimed:
        assert claimed.omemo_store is None
    assert not data.exists()
