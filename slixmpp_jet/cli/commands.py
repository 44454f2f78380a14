"""The commands: ``send`` and ``request`` start transfers, ``receive`` and ``serve`` wait,
``omemo`` manages OMEMO devices (:mod:`.omemo_command`).

Each command has a ``check`` run before connecting (bad files and directories are usage errors,
found before any password goes over the network) and a ``run`` given the logged-in client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from slixmpp import JID, ClientXMPP

from .._plugins import loaded
from ..errors import JetError, Reason
from ..file_transfer.plugin import XEP_0234
from ..file_transfer.transfer import (
    Direction,
    FileOffer,
    RefusedOffer,
    Transfer,
    TransferFailure,
    TransferResult,
)
from .failures import EXIT_USAGE, CliError
from .options import Options
from .peers import ENVELOPE_TITLES, check_reachable, choose_envelope, full_jid
from .progress import human_size
from .report import Attempt, Reporter
from .stopping import Work

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Command:
    """One sub-command: its checks before connecting, and what it does once logged in."""

    check: Callable[[Options], None]
    run: Callable[[ClientXMPP, Options, Reporter, Work], Awaitable[None]]
    waits: bool
    """Whether the command waits for peers (``receive``, ``serve``) until stopped or ``--count``."""


def _file_transfer(client: ClientXMPP) -> XEP_0234:
    plugin: XEP_0234 = loaded(client, "xep_0234")
    return plugin


def _directory(options: Options, create: bool) -> Path:
    directory = options.directory
    assert directory is not None  # argparse requires --dir for every command that reads it
    if create:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CliError(
                f"cannot create --dir {directory}: {error.strerror}", EXIT_USAGE
            ) from None
    if not directory.is_dir():
        raise CliError(f"--dir {directory} is not a directory", EXIT_USAGE)
    return directory


async def _encryption(client: ClientXMPP, peer: str, options: Options) -> str | None:
    """Check the peer is there, then choose the envelope (plaintext only with --encrypt none)."""
    await check_reachable(client, peer)
    return await choose_envelope(client, peer, options.encrypt)


async def _finish(transfer: Transfer, reporter: Reporter, work: Work, attempt: Attempt) -> None:
    """Wait for ``transfer`` and report how it ended (stopping the command cancels it)."""
    reporter.display.start(transfer)
    work.add(transfer)
    try:
        result = await transfer
    except Exception as error:  # a JetError, or a bug: reported, never a traceback
        log.debug("transfer %s failed", transfer.sid, exc_info=not isinstance(error, JetError))
        reporter.failure(attempt, error)
    else:
        reporter.result(result)
    finally:
        reporter.display.forget(transfer)


# -- send ------------------------------------------------------------------------------------


def _check_send(options: Options) -> None:
    full_jid(options.to or "", "--to")
    for path in options.files:
        if not path.is_file():
            raise CliError(f"{path} is not a file that can be sent", EXIT_USAGE)


async def _send(client: ClientXMPP, options: Options, reporter: Reporter, work: Work) -> None:
    peer = full_jid(options.to or "", "--to")
    envelope = await _encryption(client, peer, options)
    for path in options.files:
        size = path.stat().st_size
        attempt = Attempt(Direction.SEND, peer, path.name, size)
        reporter.note(f"offering {path.name} ({human_size(size)}) to {peer} ...")
        try:
            transfer = await _file_transfer(client).send_file(
                peer, path, encrypt=envelope, cipher=options.cipher, transport=options.transport
            )
        except (JetError, OSError) as error:
            reporter.failure(attempt, error)
            continue
        await _finish(transfer, reporter, work, Attempt.of(transfer))


# -- request ---------------------------------------------------------------------------------


def _check_request(options: Options) -> None:
    full_jid(options.sender or "", "--from")
    _directory(options, create=True)


async def _request(client: ClientXMPP, options: Options, reporter: Reporter, work: Work) -> None:
    peer = full_jid(options.sender or "", "--from")
    envelope = await _encryption(client, peer, options)
    attempt = Attempt(Direction.RECEIVE, peer, options.name)
    reporter.note(f"requesting {options.name} from {peer} ...")
    file_transfer = _file_transfer(client)
    file_transfer.max_size = options.max_size  # a larger or unsized answer ends before any byte
    try:
        transfer = await file_transfer.request_file(
            peer,
            _directory(options, create=True),
            name=options.name,
            encrypt=envelope,
            cipher=options.cipher,
            transport=options.transport,
        )
    except JetError as error:
        reporter.failure(attempt, error)
        return
    await _finish(transfer, reporter, work, attempt)


# -- receive ---------------------------------------------------------------------------------


def _check_receive(options: Options) -> None:
    _directory(options, create=True)
    if options.sender is not None:
        _parse_jid(options.sender, "--from")


def _parse_jid(text: str, option: str) -> JID:
    try:
        return JID(text)
    except ValueError as error:
        raise CliError(f"{option} {text!r} is not a JID: {error}", EXIT_USAGE) from None


def _is_sender(peer: str, options: Options) -> bool:
    """Whether ``peer`` (a full JID) is the ``--from`` sender (bare or full), if one is set."""
    if options.sender is None:
        return True
    wanted, jid = _parse_jid(options.sender, "--from"), JID(peer)
    return jid.full == wanted.full if wanted.resource else jid.bare == wanted.bare


def _refusal(offer: FileOffer, options: Options) -> str | None:
    """Why ``offer`` is declined under the options, or ``None`` to accept it."""
    size = offer.file.size
    if options.max_size is not None and (size is None or size > options.max_size):
        return f"files over {human_size(options.max_size)} are refused"
    envelope = options.encrypt
    if envelope in ENVELOPE_TITLES and (
        offer.security is None or offer.security.envelope != envelope
    ):
        return f"only {ENVELOPE_TITLES[envelope]}-encrypted files are accepted"
    return None


def _protection(offer: FileOffer) -> str:
    security = offer.security
    if security is None:
        return "NOT encrypted"
    title = ENVELOPE_TITLES.get(security.envelope, security.envelope)
    return f"{title}-encrypted, from {security.sender_identity}"


async def _receive(client: ClientXMPP, options: Options, reporter: Reporter, work: Work) -> None:
    directory = _directory(options, create=True)
    everything_done = asyncio.Event()
    accepted = 0
    finished = 0

    async def take(offer: FileOffer) -> None:
        nonlocal accepted
        size = "unknown size" if offer.file.size is None else human_size(offer.file.size)
        what = f"{offer.file.name} ({size}) from {offer.peer}"
        refusal = _refusal(offer, options)
        if refusal is None and options.count is not None and accepted >= options.count:
            refusal = f"this receiver takes only {options.count} file(s)"
        if refusal is None and work.stopping:
            refusal = "this receiver is stopping"
        if refusal is not None:
            if not work.stopping:
                reporter.note(f"declined {what}: {refusal}")
            await offer.decline(Reason.DECLINE, refusal)
            return
        accepted += 1
        reporter.note(f"accepting {what}, {_protection(offer)}")
        try:
            transfer = await offer.accept(directory)
        except Exception as error:  # a JetError, or a bug: reported, never a traceback
            log.debug("accepting %s failed", what, exc_info=not isinstance(error, JetError))
            reporter.failure(Attempt.of(offer.transfer), error)
        else:
            await _finish(transfer, reporter, work, Attempt.of(transfer))
        count_finished()

    def count_finished() -> None:
        nonlocal finished
        finished += 1
        if options.count is not None and finished >= options.count:
            everything_done.set()

    def on_refused(refused: RefusedOffer) -> None:
        reporter.failure(Attempt(Direction.RECEIVE, refused.peer, None), refused.error)
        count_finished()

    def on_stranger(peer: str) -> None:  # declined before anything of the offer was read
        reporter.note(f"declined an offer from {peer}: only files from {options.sender}")

    if options.sender is not None:  # the gate: strangers' offers are never even read
        _file_transfer(client).allow_peer = lambda peer: _is_sender(peer, options)
        client.add_event_handler("jingle_peer_refused", on_stranger)
    client.add_event_handler("jingle_file_offer", lambda offer: work.spawn(take(offer)))
    client.add_event_handler("jingle_offer_refused", on_refused)
    limit = "" if options.count is None else f", {options.count} file(s)"
    reporter.note(f"ready: {client.boundjid} accepts files into {directory}{limit}")
    await everything_done.wait()


# -- serve -----------------------------------------------------------------------------------


def _check_serve(options: Options) -> None:
    _directory(options, create=False)


async def _serve(client: ClientXMPP, options: Options, reporter: Reporter, work: Work) -> None:
    directory = _directory(options, create=False)
    everything_done = asyncio.Event()
    served = 0

    def count_one() -> None:
        nonlocal served
        served += 1
        if options.count is not None and served >= options.count:
            everything_done.set()

    def on_done(result: TransferResult) -> None:
        if result.direction is Direction.SEND:
            reporter.result(result)
            count_one()

    def on_failed(failure: TransferFailure) -> None:
        if failure.transfer.direction is Direction.SEND:
            reporter.display.forget(failure.transfer)
            reporter.failure(Attempt.of(failure.transfer), failure.error)
            count_one()

    client.add_event_handler("jingle_transfer_done", on_done)
    client.add_event_handler("jingle_transfer_failed", on_failed)
    _file_transfer(client).serve(
        directory, require_encryption=options.encrypt in ("omemo", "openpgp")
    )
    reporter.note(f"ready: {client.boundjid} serves the files in {directory.resolve()}")
    await everything_done.wait()


# -- omemo ------------------------------------------------------------------------------------


def _check_omemo(options: Options) -> None:
    """Nothing beyond the grammar: device ids and JIDs are checked against the server."""


async def _omemo(client: ClientXMPP, options: Options, reporter: Reporter, work: Work) -> None:
    from .omemo_command import run_omemo  # here, not above: OMEMO takes a second to import

    await run_omemo(client, options, reporter)


COMMANDS = {
    "send": Command(_check_send, _send, waits=False),
    "request": Command(_check_request, _request, waits=False),
    "receive": Command(_check_receive, _receive, waits=True),
    "serve": Command(_check_serve, _serve, waits=True),
    "omemo": Command(_check_omemo, _omemo, waits=False),
}
