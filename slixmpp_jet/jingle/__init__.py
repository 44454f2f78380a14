"""Jingle (XEP-0166): sans-I/O session core and the ``xep_0166`` plugin."""

from slixmpp.plugins.base import register_plugin

from .events import JingleAction
from .plugin import XEP_0166, JingleApplication, Session
from .session import Action, Role, SessionState, State

register_plugin(XEP_0166)

__all__ = [
    "XEP_0166",
    "Action",
    "JingleAction",
    "JingleApplication",
    "Role",
    "Session",
    "SessionState",
    "State",
]
