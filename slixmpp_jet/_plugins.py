"""Typed access to loaded slixmpp plugins by name (slixmpp types its own names only)."""

from __future__ import annotations

from typing import Any, cast

from slixmpp import BaseXMPP


def loaded(xmpp: BaseXMPP, name: str) -> Any:
    """The loaded plugin ``name``; KeyError if it is not loaded."""
    return cast(dict[str, Any], xmpp.plugin)[name]


def is_loaded(xmpp: BaseXMPP, name: str) -> bool:
    """Whether plugin ``name`` is loaded."""
    return name in cast(dict[str, Any], xmpp.plugin)
