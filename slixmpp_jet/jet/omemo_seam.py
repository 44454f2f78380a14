"""The one place slixmpp-jet uses what slixmpp-omemo does not publish.

JET-OMEMO needs a python-omemo session manager built with *our* legacy-OMEMO backend (one that
can encrypt under a chosen key, :class:`~slixmpp_jet.jet.omemo_backend.KeyTransportOldmemo`).
slixmpp-omemo builds its session manager only with its own backends, and the class that does
its XMPP side (bundles and device lists over PEP, empty OMEMO messages as ``<message>``
stanzas, trust questions put to the plugin) is returned by the module-private
``slixmpp_omemo.xep_0384._make_session_manager``. Nothing else non-public is used anywhere in
slixmpp-jet; ``tests/unit/test_omemo_seam.py`` is the contract this module relies on, and
``pyproject.toml`` pins slixmpp-omemo to the versions it passes on.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from omemo import SessionManager
from slixmpp.basexmpp import BaseXMPP

try:
    from slixmpp_omemo.xep_0384 import _make_session_manager
except ImportError as error:  # pragma: no cover - only with an untested slixmpp-omemo
    raise ImportError(
        "slixmpp-jet needs slixmpp_omemo.xep_0384._make_session_manager (slixmpp-omemo 2.2); "
        f"the installed slixmpp-omemo has none: {error}"
    ) from error

if TYPE_CHECKING:
    from slixmpp_omemo import XEP_0384

TESTED_SLIXMPP_OMEMO = "2.2"
"""The slixmpp-omemo release series this seam was written and tested against."""


def session_manager_class(xmpp: BaseXMPP, plugin: XEP_0384) -> type[SessionManager]:
    """slixmpp-omemo's session manager class for ``xmpp``: still abstract in nothing, ready for
    :meth:`SessionManager.create`; trust questions go to ``plugin``'s ``_btbv_enabled``,
    ``_devices_blindly_trusted`` and ``_prompt_manual_trust``."""
    manager_class: type[SessionManager] = _make_session_manager(xmpp, plugin)
    if inspect.isabstract(manager_class):
        raise TypeError(
            "slixmpp-omemo's session manager class is still abstract "
            f"({sorted(manager_class.__abstractmethods__)}); slixmpp-jet was tested with "
            f"slixmpp-omemo {TESTED_SLIXMPP_OMEMO}"
        )
    return manager_class


__all__ = ["TESTED_SLIXMPP_OMEMO", "session_manager_class"]
