"""Re-announcing a transport plugin's disco features through entity capabilities."""

from __future__ import annotations

import asyncio

from slixmpp import JID
from slixmpp.basexmpp import BaseXMPP


def refresh_caps(xmpp: BaseXMPP, jid: JID) -> asyncio.Future[object] | None:
    """Recompute our XEP-0115 hash after a feature changed, without broadcasting presence (the
    plugin's ``session_bind`` runs before the first one); None when caps are not in use."""
    if "xep_0115" not in xmpp.plugin:
        return None
    return asyncio.ensure_future(
        xmpp.plugin["xep_0115"].update_caps(jid, broadcast=False), loop=xmpp.loop
    )
