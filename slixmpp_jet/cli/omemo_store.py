"""Where the command line keeps its OMEMO identity: one store per account and machine.

Without ``--omemo-store`` every run of an account uses
``$XDG_DATA_HOME/slixmpp-jet/omemo/<account>.json`` (``~/.local/share`` when the variable is
unset), so repeated runs are one OMEMO device instead of a new one each. A store belongs to one
running process at a time (two would overwrite each other's ratchets): it is locked while in
use. A run that finds the account's store locked takes the next free one (``<account>.2.json``,
...), also kept for later, so an account has at most as many devices here as runs at once. An
explicit ``--omemo-store`` in use by another run is an error, and so is ``omemo`` (its
decisions are for the account's main store) while another run uses that.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from itertools import count
from pathlib import Path

from slixmpp import JID

from .failures import EXIT_USAGE, CliError
from .options import Options

APPLICATION = "slixmpp-jet"


def data_home() -> Path:
    """``$XDG_DATA_HOME``, or ``~/.local/share`` when it is unset or not absolute."""
    configured = os.environ.get("XDG_DATA_HOME", "")
    return Path(configured) if os.path.isabs(configured) else Path.home() / ".local" / "share"


def store_directory() -> Path:
    """The directory holding the default OMEMO stores of every account."""
    return data_home() / APPLICATION / "omemo"


def default_stores(jid: str) -> Iterator[Path]:
    """The account's default stores, in the order runs take them."""
    bare = JID(jid).bare
    directory = store_directory()
    yield directory / f"{bare}.json"
    for number in count(2):
        yield directory / f"{bare}.{number}.json"


def main_store(options: Options) -> Path:
    """The store a lone run of this account uses: ``--omemo-store``, else the default one."""
    return options.omemo_store or next(default_stores(options.jid))


@contextmanager
def claimed_store(options: Options) -> Iterator[Options]:
    """``options`` naming an OMEMO store that this process alone uses until the block ends.

    Unchanged when the command loads no OMEMO. Raises :class:`CliError` when an explicit
    ``--omemo-store`` is in use by another run or a store cannot be made.
    """
    if not options.wants_omemo:
        yield options
        return
    with ExitStack() as held:
        if options.omemo_store is not None:
            if not _lock(options.omemo_store, held):
                raise CliError(
                    f"--omemo-store {options.omemo_store} is in use by another slixmpp-jet run",
                    EXIT_USAGE,
                )
            yield options
            return
        _make_private_directory(store_directory())
        if options.command == "omemo":  # decisions go to the store later runs use
            store = main_store(options)
            if not _lock(store, held):
                raise CliError(
                    f"the OMEMO store {store} is in use by another slixmpp-jet run of "
                    f"{JID(options.jid).bare}; stop it first",
                    EXIT_USAGE,
                )
        else:
            store = next(path for path in default_stores(options.jid) if _lock(path, held))
        yield replace(options, omemo_store=store)


def _lock(store: Path, held: ExitStack) -> bool:
    """Lock ``store`` for this process (released when ``held`` closes); ``False`` if another
    process holds it. The lock is on a file beside the store, which is replaced on every write."""
    lock_path = store.with_name(store.name + ".lock")
    try:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise CliError(
            f"cannot use the OMEMO store {store}: {error.strerror}", EXIT_USAGE
        ) from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return False
    held.callback(os.close, descriptor)
    return True


def _make_private_directory(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(
            f"cannot create the OMEMO store directory {directory}: {error.strerror}", EXIT_USAGE
        ) from None


__all__ = ["claimed_store", "data_home", "default_stores", "main_store", "store_directory"]
