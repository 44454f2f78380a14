"""Account profiles in a TOML file, so that a command needs only what changes.

``$XDG_CONFIG_HOME/slixmpp-jet/config.toml`` (``~/.config/...``) unless ``--config`` names
another file::

    default = "work"                    # optional: the account used without --account

    [accounts.work]
    jid = "alice@example.org"
    password_command = "pass show xmpp/alice"   # or password_file = "~/.xmpp-password"
    host = "xmpp.example.org"
    omemo_store = "~/.local/share/slixmpp-jet/alice.json"
    encrypt = "omemo"
    dir = "~/Downloads"                 # receive, request, serve
    from = ["bob@example.org"]          # receive, serve

Options given on the command line win over the file.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .failures import EXIT_USAGE, CliError

_TEXT = (str,)
_PATH_KEYS = {"ca_file", "omemo_store", "gnupg_home", "dir", "password_file"}
_KEYS: dict[str, tuple[type, ...]] = {
    "jid": _TEXT,
    "resource": _TEXT,
    "host": _TEXT,
    "port": (int,),
    "ca_file": _TEXT,
    "omemo_store": _TEXT,
    "gnupg_home": _TEXT,
    "encrypt": _TEXT,
    "trust": _TEXT,
    "transport": _TEXT,
    "dir": _TEXT,
    "from": (list,),
    "password_file": _TEXT,
    "password_command": _TEXT,
}
"""Every key an account may have, and its TOML type."""


@dataclass(frozen=True)
class Profile:
    """One account of the file: its settings under the option names they stand for."""

    name: str
    settings: dict[str, Any]


def default_path() -> Path:
    """Where the file is looked for without ``--config``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "slixmpp-jet" / "config.toml"


def load_profile(path: Path | None, account: str | None) -> Profile | None:
    """The account ``account`` (or the default one) of the file at ``path`` (or the default
    file); ``None`` when no file was named and none exists. A :class:`CliError` says what is
    wrong with the file."""
    if path is None:
        path = default_path()
        if not path.exists():
            if account is not None:
                raise CliError(f"--account {account}: there is no config file {path}", EXIT_USAGE)
            return None
    try:
        document = tomllib.loads(path.read_text())
    except OSError as error:
        raise CliError(
            f"cannot read the config file {path}: {error.strerror}", EXIT_USAGE
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise CliError(f"the config file {path} is not valid TOML: {error}", EXIT_USAGE) from None
    accounts = document.get("accounts", {})
    if not isinstance(accounts, dict) or not accounts:
        raise CliError(f"the config file {path} has no [accounts.NAME] table", EXIT_USAGE)
    name = (
        account or document.get("default") or (next(iter(accounts)) if len(accounts) == 1 else None)
    )
    if name is None:
        choices = ", ".join(accounts)
        raise CliError(
            f"{path} has several accounts ({choices}): choose one with --account", EXIT_USAGE
        )
    if name not in accounts:
        raise CliError(
            f"{path} has no account {name!r} (it has: {', '.join(accounts)})", EXIT_USAGE
        )
    return Profile(name, _checked(accounts[name], f"{path} [accounts.{name}]"))


def _checked(table: object, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise CliError(f"{where} is not a table", EXIT_USAGE)
    for key, value in table.items():
        if key not in _KEYS:
            raise CliError(f"{where}: unknown key {key!r} (known: {', '.join(_KEYS)})", EXIT_USAGE)
        if not isinstance(value, _KEYS[key]) or isinstance(value, bool):
            raise CliError(f"{where}: {key} has the wrong type", EXIT_USAGE)
    if "from" in table and not all(isinstance(jid, str) for jid in table["from"]):
        raise CliError(f"{where}: from must be a list of JIDs", EXIT_USAGE)
    return {
        key: Path(value).expanduser() if key in _PATH_KEYS else value
        for key, value in table.items()
    }


def password_from_command(command: str) -> str:
    """The first line a ``password_command`` prints (run without a shell)."""
    try:
        done = subprocess.run(
            shlex.split(command), capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired, ValueError) as error:
        raise CliError(f"password_command failed: {error}", EXIT_USAGE) from None
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines or not lines[0]:
        raise CliError(
            f"password_command exited with {done.returncode} and printed no password", EXIT_USAGE
        )
    return lines[0]
