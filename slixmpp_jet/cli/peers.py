"""Before a transfer: is the peer there, does it do Jingle file transfer, and how to encrypt."""

from __future__ import annotations

from slixmpp import JID, ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout

from .._plugins import loaded
from ..file_transfer.stanza import NS_FT
from ..jet.plugin import XEP_0391
from .failures import CliError
from .options import ENVELOPES

DISCO_TIMEOUT = 15
ENVELOPE_TITLES = {"omemo": "OMEMO", "openpgp": "OpenPGP"}


async def check_reachable(client: ClientXMPP, peer: str) -> None:
    """Ask ``peer`` what it supports; a :class:`CliError` if it is away or cannot transfer files."""
    try:
        info = await client.plugin["xep_0030"].get_info(jid=JID(peer), timeout=DISCO_TIMEOUT)
    except IqError as error:
        condition = error.iq["error"]["condition"]
        raise CliError(
            f"{peer} is not reachable: it is offline or does not exist ({condition})"
        ) from None
    except IqTimeout:
        raise CliError(f"{peer} is not reachable: no answer within {DISCO_TIMEOUT} s") from None
    if NS_FT not in set(info["disco_info"]["features"]):
        raise CliError(f"{peer} does not support Jingle file transfer ({NS_FT})")


async def choose_envelope(client: ClientXMPP, peer: str, wanted: str) -> str | None:
    """The envelope to seal our transport secret with, or ``None`` for no encryption.

    ``wanted`` is ``--encrypt``. ``auto`` takes the first envelope the peer supports; an
    explicit envelope the peer lacks, or none at all with ``auto``, is refused: only
    ``--encrypt none`` sends plaintext.
    """
    if wanted == "none":
        return None
    jet: XEP_0391 = loaded(client, "xep_0391")
    candidates = ENVELOPES if wanted == "auto" else (wanted,)
    for name in candidates:
        if name in jet.envelope_names and await jet.peer_supports(peer, jet.envelope(name)):
            return name
    what = "any encrypted" if wanted == "auto" else f"{ENVELOPE_TITLES[wanted]}-encrypted"
    raise CliError(
        f"{peer} cannot receive {what} file transfers we can make; refusing to send anything "
        "unencrypted (use --encrypt none if the file is not secret)"
    )
