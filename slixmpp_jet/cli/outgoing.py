"""Folders on the command line: what ``send DIR`` offers, and where ``receive --keep-paths``
puts a file offered under a relative path.

A directory's files are found recursively, in a stable order, each offered under its path
relative to the directory (``photos/2026/a.jpg``). A symbolic link is followed only when it
points inside the directory: one that leads out of it is refused before anything is sent. The
receiver recreates only safe folders, and only inside its ``--dir``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import LocalFileError
from ..file_transfer.names import safe_path_components
from .failures import EXIT_USAGE, CliError


@dataclass(frozen=True)
class Outgoing:
    """One file to offer, and the name it is offered under."""

    path: Path
    name: str


def files_to_send(paths: tuple[Path, ...]) -> list[Outgoing]:
    """Every file ``send`` offers for ``paths``; a :class:`CliError` (usage) for anything else."""
    found: list[Outgoing] = []
    for path in paths:
        if not os.path.lexists(path):
            raise CliError(f"{path}: no such file", EXIT_USAGE)
        if path.is_dir():
            found += _inside(path)
        elif path.is_file():
            found.append(Outgoing(path, path.name))
        else:
            raise CliError(f"{path} is not a regular file (a device, a pipe...)", EXIT_USAGE)
    return found


def _inside(directory: Path) -> list[Outgoing]:
    root = directory.resolve()
    found = []
    for folder, subfolders, names in os.walk(directory):
        subfolders.sort()
        for name in sorted(names) + [d for d in subfolders if Path(folder, d).is_symlink()]:
            path = Path(folder, name)
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise CliError(
                    f"{path} is a symbolic link out of {directory}: refusing to send it",
                    EXIT_USAGE,
                )
            if path.is_file():
                found.append(Outgoing(path, path.relative_to(directory).as_posix()))
    return found


def kept_path(directory: Path, offered: str | None) -> tuple[Path, str | None]:
    """The folder inside ``directory`` for a file offered as ``offered`` (made if missing), and
    its name there; ``(directory, None)`` for a plain name. ``LocalFileError`` if a folder cannot
    be made, or would lie outside ``directory`` (a symbolic link already there)."""
    *folders, name = safe_path_components(offered) or [""]
    if not folders:
        return directory, None
    root = directory.resolve()
    folder = root.joinpath(*folders)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LocalFileError(f"cannot make the folder {folder}: {error.strerror}") from None
    if not folder.resolve().is_relative_to(root):
        raise LocalFileError(f"refusing a folder outside {directory}: {folder}")
    return folder, name
