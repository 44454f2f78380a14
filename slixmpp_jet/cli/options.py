"""The command line: its grammar (argparse), and the typed :class:`Options` read from it."""

from __future__ import annotations

import argparse
import getpass
import math
import os
import platform
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any

from .._version import __version__
from .config import load_profile, password_from_command
from .failures import EXIT_USAGE, CliError

PASSWORD_VARIABLE = "SLIXMPP_JET_PASSWORD"
DEFAULT_MAX_SIZE = 4 * 1024**3
ENVELOPES = ("omemo", "openpgp")
ENCRYPT_CHOICES = ("auto", *ENVELOPES, "none")
TRANSPORT_CHOICES = ("auto", "webrtc", "s5b", "ibb")
TRUST_CHOICES = ("blind", "manual")
_CHOICES = {"encrypt": ENCRYPT_CHOICES, "transport": TRANSPORT_CHOICES, "trust": TRUST_CHOICES}
_BUILT_IN = {"encrypt": "auto", "transport": "auto", "trust": "blind"}
_FROM_PROFILE = {
    "jid": "jid",
    "resource": "resource",
    "host": "host",
    "port": "port",
    "ca_file": "ca_file",
    "omemo_store": "omemo_store",
    "gnupg_home": "gnupg_home",
    "encrypt": "encrypt",
    "trust": "trust",
    "transport": "transport",
    "dir": "directory",
    "from": "senders",
}
"""Config-file key -> option; an option the command does not have is not taken."""

_DESCRIPTION = "End-to-end encrypted file transfer over XMPP (Jingle, JET, OMEMO, OpenPGP)."

_EPILOG = f"""\
Passwords: --password, --password-file FILE, or the environment variable {PASSWORD_VARIABLE};
otherwise you are asked on the terminal.

Exit status: 0 when every transfer completed and was verified; 1 when a transfer failed, was
declined or refused, or could not be verified (a transfer that timed out or hit a full disk
included); 2 for a usage error; 3 when connecting or logging in failed, or when send or request
lost the connection (receive and serve connect again); 130 when interrupted by
Ctrl-C (SIGINT), 143 by SIGTERM. Interrupted transfers end their session (the peer is told
<cancel/>) and leave no partial file. receive and serve without --count end normally when
stopped while no transfer is under way (status 0 unless a transfer failed before).

receive and serve deal only with contacts in your roster that have a presence subscription,
unless --from says otherwise; at most 8 sessions at once per account and 64 in all. Anyone else
is declined before their offer or request is read: reported, never counted as a failure or
towards --count.
"""

_ENCRYPT_HELP = """\
how to encrypt what we send or request: omemo (XEP-0396), openpgp (XEP-0373 keys), none, or
auto (the default: OMEMO if the peer supports it, else OpenPGP if --gnupg-home is given and the
peer supports it, else nothing is sent). Only none sends plaintext; a choice the peer cannot do
is refused, never downgraded. When receiving, omemo or openpgp declines offers not encrypted that
way; when serving, either refuses requests that carry no encryption; none loads no encryption
at all."""

_TRUST_HELP = """\
which OMEMO devices to trust. blind (the default): Blind Trust Before Verification - devices of
a contact are trusted as they appear, until you verify one of that contact's devices by hand in
slixmpp-jet omemo trust (or another client sharing the OMEMO store); from then on new devices need
your decision. manual: only devices you trusted count; on a terminal you are asked once for each
new device (its fingerprint is shown) and the answer is kept in the OMEMO store; without a
terminal new devices are refused."""


@dataclass(frozen=True)
class Options:
    """Everything the command line said, typed; one field per option."""

    command: str
    jid: str
    password: str = field(repr=False)
    host: str | None = None
    port: int | None = None
    resource: str | None = None
    ca_file: Path | None = None
    plaintext: bool = False
    encrypt: str = "auto"
    cipher: str | None = None
    transport: str = "auto"
    no_direct: bool = False
    omemo_store: Path | None = None
    trust: str = "blind"
    gnupg_home: Path | None = None
    json: bool = False
    verbose: int = 0
    quiet: bool = False
    debug: bool = False
    files: tuple[Path, ...] = ()
    to: str | None = None
    directory: Path | None = None
    count: int | None = None
    sender: str | None = None
    """``request``'s serving client."""
    senders: tuple[str, ...] = ()
    """``receive``'s and ``serve``'s ``--from``: JIDs, or ``*``; empty means roster contacts."""
    max_size: int | None = DEFAULT_MAX_SIZE
    unknown_size: bool = False
    mkdir: bool = False
    keep_paths: bool = False
    name: str | None = None
    idle_timeout: float = 60.0
    accept_timeout: float | None = None
    """Only ``send`` and ``request`` wait for a session-accept (their default: 300 s)."""
    omemo_action: str | None = None
    """``omemo`` only: ``list``, ``trust``, ``distrust`` or ``remove``."""
    contacts: tuple[str, ...] = ()
    device_ids: tuple[int, ...] = ()

    @property
    def wants_omemo(self) -> bool:
        return self.command == "omemo" or self.encrypt in ("auto", "omemo")

    @property
    def wants_openpgp(self) -> bool:
        return self.encrypt == "openpgp" or (self.encrypt == "auto" and self.gnupg_home is not None)


def size(text: str) -> int:
    """A byte count such as ``5000000``, ``500K``, ``20M`` or ``1G`` (binary multiples)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)i?b?\s*", text, re.IGNORECASE)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 5000000, 500K, 20M, 1G)")
    exponent = " kmgt".index(match.group(2).lower() or " ")
    multiplier: int = 1024**exponent
    return int(match.group(1)) * multiplier


def size_limit(text: str) -> int | None:
    """A size as :func:`size`, or ``none`` for no limit."""
    return None if text.strip().lower() == "none" else size(text)


def positive(text: str) -> int:
    """A whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def seconds(text: str) -> float:
    """A duration in seconds, more than zero (``60``, ``2.5``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def version_line() -> str:
    """``slixmpp-jet X`` and the versions of the libraries that matter for interop."""
    libraries = ", ".join(
        f"{name} {_installed(name)}" for name in ("slixmpp", "slixmpp-omemo", "cryptography")
    )
    return f"slixmpp-jet {__version__} ({libraries}; Python {platform.python_version()})"


def _installed(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    account = common.add_argument_group("account and server")
    account.add_argument(
        "--config",
        type=Path,
        help="the TOML file of account profiles (default: "
        "$XDG_CONFIG_HOME/slixmpp-jet/config.toml, if it exists); options given here win",
    )
    account.add_argument("--account", help="which account of the config file to use")
    account.add_argument("--jid", help="your account, user@domain (or from the config file)")
    account.add_argument("--password", help=f"your password (better: {PASSWORD_VARIABLE})")
    account.add_argument("--password-file", type=Path, help="read the password from this file")
    account.add_argument("--resource", help="resource of this client (default: a random one)")
    account.add_argument("--host", help="server host name or address (default: DNS SRV lookup)")
    account.add_argument("--port", type=int, help="server port (default: 5222)")
    account.add_argument(
        "--ca-file", type=Path, help="trust this CA or self-signed certificate for the server's TLS"
    )
    account.add_argument(
        "--plaintext",
        action="store_true",
        help="allow an unencrypted connection to the server, password and all: ONLY for a "
        "test server on loopback (TLS is required otherwise)",
    )
    security = common.add_argument_group("encryption and transport")
    security.add_argument("--encrypt", choices=ENCRYPT_CHOICES, help=_ENCRYPT_HELP)
    security.add_argument(
        "--cipher",
        choices=["aes-128-gcm", "aes-256-gcm"],
        help="stream cipher (default: the envelope's first; OMEMO carries aes-128-gcm only)",
    )
    security.add_argument(
        "--transport",
        choices=TRANSPORT_CHOICES,
        help="how the bytes travel: SOCKS5 (direct or via the server's proxy), in-band, or a "
        "WebRTC data channel (needs the webrtc extra); auto offers SOCKS5 with fallback to IBB. "
        "receive and serve take only the one named: with ibb a SOCKS5 offer gets no candidates, "
        "so the sender falls back to IBB",
    )
    security.add_argument(
        "--no-direct",
        action="store_true",
        help="SOCKS5 only through the server's proxy: never tell the peer this machine's "
        "addresses (slower than a direct connection where one is possible)",
    )
    security.add_argument(
        "--omemo-store",
        type=Path,
        help="JSON file keeping this client's OMEMO identity and trust decisions (private keys, "
        "written with mode 0600). Default: one store per account under "
        "$XDG_DATA_HOME/slixmpp-jet/omemo/ (~/.local/share when unset), so every run of an "
        "account is the same OMEMO device; runs at the same time take one store each",
    )
    security.add_argument("--trust", choices=TRUST_CHOICES, help=_TRUST_HELP)
    security.add_argument(
        "--gnupg-home",
        type=Path,
        help="GnuPG home holding your secret key (user id xmpp:YOUR-JID) for --encrypt openpgp; "
        "contacts' keys are fetched from their PEP",
    )
    limits = common.add_argument_group("time limits")
    limits.add_argument(
        "--idle-timeout",
        type=seconds,
        default=60.0,
        metavar="SECONDS",
        help="end a transfer when no byte has moved for this long, either way, also while its "
        "connection is being set up (the session ends with <timeout/>, no partial file is "
        "kept; default: 60)",
    )
    output = common.add_argument_group("output")
    output.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per finished transfer on stdout (name, size, sha256, "
        "seconds, transport, cipher, envelope, outcome, ...)",
    )
    output.add_argument(
        "-v", "--verbose", action="count", default=0, help="log what we do (twice: as --debug)"
    )
    output.add_argument(
        "-q", "--quiet", action="store_true", help="print only errors and each transfer's result"
    )
    output.add_argument(
        "--debug",
        action="store_true",
        help="log every stanza (keys, encrypted payloads, file data and passwords are cut out)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The ``slixmpp-jet`` parser with its commands."""
    parser = argparse.ArgumentParser(
        prog="slixmpp-jet",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_line())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [_common()]

    send = commands.add_parser("send", parents=common, help="offer files to a contact")
    send.add_argument(
        "--to", required=True, help="the receiving client's full JID (with /resource)"
    )
    send.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="files to offer; a directory offers every file inside it (recursively), each under "
        "its path relative to the directory",
    )
    _accept_timeout(send, "the receiver to accept each offer")

    receive = commands.add_parser("receive", parents=common, help="accept offered files")
    receive.add_argument("--dir", dest="directory", type=Path, help="save files here")
    _mkdir(receive)
    receive.add_argument(
        "--count", type=positive, help="exit after this many files from accepted senders"
    )
    _senders(receive, "offers")
    receive.add_argument(
        "--keep-paths",
        action="store_true",
        help="a file offered under a relative path (send DIR) goes into the same sub-folders of "
        "--dir, made safe and never outside it (default: the name alone)",
    )
    _max_size(receive, "decline larger offers")

    request = commands.add_parser("request", parents=common, help="ask a contact for a file")
    request.add_argument(
        "--from", dest="sender", required=True, help="the serving client's full JID"
    )
    request.add_argument("--name", required=True, help="the file's name on the serving side")
    request.add_argument("--dir", dest="directory", type=Path, help="save it here")
    _mkdir(request)
    _max_size(request, "refuse the file if it is announced larger")
    _accept_timeout(request, "the serving client to answer the request")

    serve = commands.add_parser(
        "serve",
        parents=common,
        help="answer file requests from one directory",
        description="Answer requests for the files directly inside --dir (never anything "
        "outside it, nor in sub-directories). Each file goes the way its request asks: "
        "encrypted with the requester's envelope when the request carries one; with --encrypt "
        "omemo or openpgp, unencrypted requests are refused.",
    )
    serve.add_argument(
        "--dir",
        dest="directory",
        type=Path,
        help="serve the files directly inside this directory, nothing else",
    )
    serve.add_argument("--count", type=positive, help="exit after serving this many files")
    _senders(serve, "requests")
    _omemo_parser(commands, common)
    return parser


def _mkdir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mkdir", action="store_true", help="create --dir (and its parents) if it does not exist"
    )


def _senders(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--from",
        dest="senders",
        action="append",
        default=[],
        metavar="JID",
        help=f"take {what} only from this account (bare JID) or client (full JID); repeat for "
        f"several; '*' for anyone. Default: contacts in your roster with a presence "
        f"subscription. Everyone else is declined before their {what} are read",
    )


def _max_size(parser: argparse.ArgumentParser, action: str) -> None:
    parser.add_argument(
        "--max-size",
        type=size_limit,
        default=DEFAULT_MAX_SIZE,
        help=f"{action} (e.g. 500M, 10G, or none; default: 4G)",
    )
    parser.add_argument(
        "--unknown-size",
        action="store_true",
        help="also take a file whose size is not announced (refused by default); it is cut off "
        "and discarded once it goes past --max-size",
    )


def _omemo_parser(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    """``omemo [options] list|trust|distrust|remove``: OMEMO devices of this account and others."""
    omemo = commands.add_parser(
        "omemo",
        parents=common,
        help="show OMEMO fingerprints, trust or distrust devices, remove own old devices",
        description="Manage the OMEMO devices of this account's OMEMO store (the default one, "
        "or --omemo-store; not while another run of the account uses it). Options come before "
        "the action: slixmpp-jet omemo --jid you@example.org list friend@example.org",
    )
    actions = omemo.add_subparsers(dest="omemo_action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="this account's devices, and those of the JIDs")
    listing.add_argument("contacts", nargs="*", metavar="JID", help="contacts to show")
    for action, verb in (("trust", "trust"), ("distrust", "never trust")):
        deciding = actions.add_parser(
            action, help=f"{verb} one device of a contact (compare fingerprints first)"
        )
        deciding.add_argument("contacts", nargs=1, metavar="JID", help="the contact")
        deciding.add_argument("device_ids", nargs=1, type=positive, metavar="DEVICE")
    removing = actions.add_parser(
        "remove", help="take own devices that no longer exist off this account's device lists"
    )
    removing.add_argument("device_ids", nargs="+", type=positive, metavar="DEVICE")


def _accept_timeout(parser: argparse.ArgumentParser, waiting_for: str) -> None:
    parser.add_argument(
        "--accept-timeout",
        type=seconds,
        default=300.0,
        metavar="SECONDS",
        help=f"how long to wait for {waiting_for} (the session then ends with <timeout/>; "
        "default: 300)",
    )


def parse(argv: Sequence[str] | None = None) -> Options:
    """Parse ``argv`` (default: ``sys.argv[1:]``) over the config file's account; exits with
    status 2 on a grammar error, raises :class:`CliError` (usage) for anything else missing."""
    namespace = vars(build_parser().parse_args(argv))
    profile = load_profile(namespace.pop("config"), namespace.pop("account"))
    settings = profile.settings if profile is not None else {}
    for key, option in _FROM_PROFILE.items():
        if key in settings and option in namespace and namespace[option] in (None, []):
            namespace[option] = settings[key]
    for option, value in _BUILT_IN.items():
        if namespace[option] is None:
            namespace[option] = value
        elif namespace[option] not in _CHOICES[option]:
            choices = ", ".join(_CHOICES[option])
            raise CliError(
                f"{option} {namespace[option]!r} in the config file: use {choices}", EXIT_USAGE
            )
    if not namespace["jid"]:
        raise CliError("--jid is required (or jid in an account of the config file)", EXIT_USAGE)
    if "directory" in namespace and namespace["directory"] is None:
        raise CliError("--dir is required (or dir in an account of the config file)", EXIT_USAGE)
    namespace["password"] = _password(
        namespace.pop("password"), namespace.pop("password_file"), namespace["jid"], settings
    )
    for name in ("files", "senders", "contacts", "device_ids"):
        if name in namespace:
            namespace[name] = tuple(namespace[name])
    known = {option.name for option in fields(Options)}
    return Options(**{key: value for key, value in namespace.items() if key in known})


def _password(given: str | None, path: Path | None, jid: str, settings: dict[str, Any]) -> str:
    """From ``--password``, ``--password-file``, the environment, the config file's
    ``password_file`` or ``password_command``, or the terminal, in that order."""
    if given:
        return given
    if path is not None:
        return _read_password_file(path, "--password-file")
    from_environment = os.environ.get(PASSWORD_VARIABLE)
    if from_environment:
        return from_environment
    if "password_file" in settings:
        return _read_password_file(settings["password_file"], "the config file's password_file")
    if "password_command" in settings:
        return password_from_command(settings["password_command"])
    if sys.stdin.isatty():
        return getpass.getpass(f"password for {jid}: ")
    raise CliError(
        f"no password: use --password-file, {PASSWORD_VARIABLE}, --password, or password_file "
        "or password_command in the config file",
        EXIT_USAGE,
    )


def _read_password_file(path: Path, what: str) -> str:
    """The first line of ``path``."""
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise CliError(f"cannot read {what} {path}: {error.strerror}", EXIT_USAGE) from None
    if not lines or not lines[0]:
        raise CliError(f"{what} {path} is empty", EXIT_USAGE)
    return lines[0]
