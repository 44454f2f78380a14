"""A second loopback address, so that WebRTC peers on one machine can reach each other.

aioice gathers host candidates from every interface but leaves out ``127.0.0.1``; on a machine
with no other address, two peers would have no candidate at all. ``127.0.0.2`` on ``lo`` gives
them one. Adding it needs root (CI and the test machines run as root).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

SECOND_LOOPBACK = "127.0.0.2"


def has_address(address: str) -> bool:
    """Whether an interface of this machine has the IPv4 ``address``."""
    shown = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True)
    return any(f" {address}/" in line for line in shown.stdout.splitlines())


@contextmanager
def second_loopback(address: str = SECOND_LOOPBACK) -> Iterator[str]:
    """``address`` on ``lo`` while the block runs (added, then removed, if it was missing).

    Raises PermissionError when it is missing and we are not root.
    """
    if has_address(address):
        yield address
        return
    if os.geteuid() != 0:
        raise PermissionError(f"adding {address} to lo needs root")
    subprocess.run(["ip", "addr", "add", f"{address}/8", "dev", "lo"], check=True)
    try:
        yield address
    finally:
        subprocess.run(["ip", "addr", "del", f"{address}/8", "dev", "lo"], check=False)
