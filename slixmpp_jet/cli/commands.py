"""The four commands: ``send`` and ``request`` start transfers, ``receive`` and ``serve`` wait.

Each command has a ``check`` run before connecting (bad files and directories are usage errors,
found before any password goes over the network) and a ``run`` given the logged-in client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from slixmpp import ClientXMPP

from .._plugins import loaded
from ..errors import JetError, LocalFileError, Reason, TransferDeclined
from ..file_transfer.plugin import XEP_0234
from ..file_transfer.transfer import (
    Direction,
    FileOffer,
    RefusedOffer,
    Transfer,
    TransferFailure,
    TransferResult,
)
from .addressing import Peer, choose_peer, parse_jid
from .failures import EXIT_USAGE, CliError, explain
from .gate import check_senders, install_gate
from .options import Options
from .outgoing import files_to_send, kept_path
from .peers import ENVELOPE_TITLES
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


def _directory(options: Options) -> Path:
    """``--dir``, made first (with its parents) only when ``--mkdir`` asks for it."""
    directory = options.directory
    assert directory is not None  # argparse requires --dir for every command that reads it
    if options.mkdir and not directory.exists():
        try:
            directory.mkdir(parents=True)
        except OSError as error:
            raise CliError(
                f"cannot create --dir {directory}: {error.strerror}", EXIT_USAGE
            ) from None
    if not directory.exists():
        hint = " (--mkdir creates it)" if options.command in ("receive", "request") else ""
        raise CliError(f"--dir {directory} does not exist{hint}", EXIT_USAGE)
    if not directory.is_dir():
        raise CliError(f"--dir {directory} is not a directory", EXIT_USAGE)
    return directory


async def _peer(
    client: ClientXMPP, text: str, option: str, options: Options, reporter: Reporter
) -> Peer:
    """The client to address (a bare JID: its best online one, named in a note) and the
    envelope (plaintext only with --encrypt none)."""
    peer = await choose_peer(client, text, option, options.encrypt)
    if peer.jid != text:
        reporter.note(f"{text} is online as {peer.jid}: using that client")
    return peer


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
    parse_jid(options.to or "", "--to")
    if not files_to_send(options.files):
        raise CliError("nothing to send: the directories given hold no files", EXIT_USAGE)


async def _send(client: ClientXMPP, options: Options, reporter: Reporter, work: Work) -> None:
    peer = await _peer(client, options.to or "", "--to", options, reporter)
    for outgoing in files_to_send(options.files):
        path, name = outgoing.path, outgoing.name
        try:
            size = path.stat().st_size
        except OSError as error:
            reporter.failure(Attempt(Direction.SEND, peer.jid, name), error)
            continue
        attempt = Attempt(Direction.SEND, peer.jid, name, size)
        reporter.note(f"offering {name} ({human_size(size)}) to {peer.jid} ...")
        try:
            transfer = await _file_transfer(client).send_file(
                peer.jid,
                path,
                name=name,
                encrypt=peer.envelope,
                cipher=options.cipher,
                transport=options.transport,
            )
        except (JetError, OSError) as error:
            reporter.failure(attempt, error)
            continue
        await _finish(transfer, reporter, work, Attempt.of(transfer))


# -- request ---------------------------------------------------------------------------------


def _check_request(options: Options) -> None:
    parse_jid(options.sender or "", "--from")
    _directory(options)


async def _request(client: ClientXMPP, options: Options, reporter: Reporter, work: Work) -> None:
    peer = await _peer(client, options.sender or "", "--from", options, reporter)
    attempt = Attempt(Direction.RECEIVE, peer.jid, options.name)
    reporter.note(f"requesting {options.name} from {peer.jid} ...")
    file_transfer = _file_transfer(client)
    _limit_sizes(file_transfer, options)
    try:
        transfer = await file_transfer.request_file(
            peer.jid,
            _directory(options),
            name=options.name,
            encrypt=peer.envelope,
            cipher=options.cipher,
            transport=options.transport,
        )
    except JetError as error:
        reporter.failure(attempt, error)
        return
    await _finish(transfer, reporter, work, attempt)


# -- receive ---------------------------------------------------------------------------------


def _limit_sizes(file_transfer: XEP_0234, options: Options) -> None:
    """A file announced larger than ``--max-size``, or (without ``--unknown-size``) with no size,
    is refused before any byte moves; one of unknown size is cut off past ``--max-size``."""
    file_transfer.max_size = options.max_size
    file_transfer.accept_unknown_size = options.unknown_size


def _check_receive(options: Options) -> None:
    _directory(options)
    check_senders(options)


def _refusal(offer: FileOffer, options: Options) -> str | None:
    """Why ``offer`` is declined under the options, or ``None`` to accept it."""
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
    directory = _directory(options)
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
                shown = offer.file.name or "a file"
                reporter.refusal(Direction.RECEIVE, offer.peer, refusal, name=shown)
            await offer.decline(Reason.DECLINE, refusal)
            return
        accepted += 1
        reporter.note(f"accepting {what}, {_protection(offer)}")
        try:
            if options.keep_paths:
                folder, name = kept_path(directory, offer.file.name)
                transfer = await offer.accept(folder, name=name)
            else:
                transfer = await offer.accept(directory)
        except LocalFileError as error:  # a folder we could not make: the peer must not wait
            await offer.decline(Reason.FAILED_APPLICATION, "the receiver cannot store it")
            reporter.failure(Attempt.of(offer.transfer), error)
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

    def on_refused(refused: RefusedOffer) -> None:  # never reached us: reported, not counted
        error = refused.error
        if isinstance(error, TransferDeclined):
            reporter.refusal(Direction.RECEIVE, refused.peer, str(error))
        else:
            reporter.failure(Attempt(Direction.RECEIVE, refused.peer, None), error)

    _limit_sizes(_file_transfer(client), options)
    senders = await install_gate(client, options, reporter)
    client.add_event_handler("jingle_file_offer", lambda offer: work.spawn(take(offer)))
    client.add_event_handler("jingle_offer_refused", on_refused)
    limit = "" if options.count is None else f", {options.count} file(s)"
    reporter.note(f"ready: {client.boundjid} accepts files from {senders} into {directory}{limit}")
    await everything_done.wait()


# -- serve -----------------------------------------------------------------------------------


def _check_serve(options: Options) -> None:
    _directory(options)
    check_senders(options)


async def _serve(client: ClientXMPP, options: Options, reporter: Reporter, work: Work) -> None:
    directory = _directory(options)
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

    def on_refused(refused: RefusedOffer) -> None:  # a request we could not answer
        error = refused.error
        reason = error.reason.value if isinstance(error, JetError) else "failed-application"
        reporter.refusal(Direction.SEND, refused.peer, explain(error), reason)

    client.add_event_handler("jingle_transfer_done", on_done)
    client.add_event_handler("jingle_transfer_failed", on_failed)
    client.add_event_handler("jingle_offer_refused", on_refused)
    senders = await install_gate(client, options, reporter)
    _file_transfer(client).serve(
        directory, require_encryption=options.encrypt in ("omemo", "openpgp")
    )
    reporter.note(
        f"ready: {client.boundjid} serves the files in {directory.resolve()} to {senders}"
    )
    await everything_done.wait()


COMMANDS = {
    "send": Command(_check_send, _send, waits=False),
    "request": Command(_check_request, _request, waits=False),
    "receive": Command(_check_receive, _receive, waits=True),
    "serve": Command(_check_serve, _serve, waits=True),
}
