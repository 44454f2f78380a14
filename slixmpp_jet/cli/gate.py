"""Who ``receive`` and ``serve`` deal with: roster contacts by default, ``--from`` to choose.

The policy becomes ``xep_0234``'s peer gate, so anyone else is declined before anything of
their offer or request is read; each refusal is reported, none is counted.
"""

from __future__ import annotations

from slixmpp import JID, ClientXMPP

from .._plugins import loaded
from ..file_transfer.admission import RefusedPeer, only_from, subscribed_contacts
from ..file_transfer.plugin import XEP_0234
from ..file_transfer.transfer import Direction
from .failures import EXIT_USAGE, CliError
from .options import Options
from .report import Reporter

ANYONE = "*"


def check_senders(options: Options) -> None:
    """Each ``--from`` is a JID (bare or full), or ``*`` alone."""
    senders = options.senders
    if ANYONE in senders and len(senders) > 1:
        raise CliError(
            f"--from {ANYONE!r} (anyone) cannot be combined with other --from", EXIT_USAGE
        )
    for sender in senders:
        if sender != ANYONE:
            _parse(sender)


def _parse(text: str) -> JID:
    try:
        jid = JID(text)
    except ValueError as error:
        raise CliError(f"--from {text!r} is not a JID: {error}", EXIT_USAGE) from None
    if not jid.bare:
        raise CliError(f"--from {text!r} is not a JID", EXIT_USAGE)
    return jid


async def install_gate(client: ClientXMPP, options: Options, reporter: Reporter) -> str:
    """Set the peer gate the options ask for; returns who may come, for the ready line."""
    file_transfer: XEP_0234 = loaded(client, "xep_0234")
    direction = Direction.RECEIVE if options.command == "receive" else Direction.SEND

    def on_refused(refused: RefusedPeer) -> None:
        reporter.refusal(direction, refused.peer, refused.why)

    client.add_event_handler("jingle_peer_refused", on_refused)
    senders = options.senders
    if senders == (ANYONE,):
        file_transfer.allow_peer = None
        return "anyone"
    if senders:
        jids = [_parse(sender) for sender in senders]
        file_transfer.allow_peer = only_from(jid.full for jid in jids)
        return ", ".join(jid.full for jid in jids)
    await client.get_roster()
    file_transfer.allow_peer = subscribed_contacts(client.client_roster)
    return "contacts in the roster (with a presence subscription)"
