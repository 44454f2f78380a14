"""``slixmpp-jet`` (also ``python -m slixmpp_jet``): send, receive, request and serve files.

``main()`` parses the command line, logs in, runs one command and returns the exit status
(see :mod:`.failures`). The modules: :mod:`.options` (grammar), :mod:`.connection` (login),
:mod:`.peers` (reachability, encryption choice), :mod:`.commands`, :mod:`.report` and
:mod:`.progress` (what the user sees).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from .commands import COMMANDS
from .connection import connected
from .failures import EXIT_FAILED, EXIT_INTERRUPTED, CliError
from .options import Options, parse
from .report import Reporter

__all__ = ["main"]

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    try:
        options = parse(argv)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.status
    _configure_logging(options.verbose)
    return asyncio.run(_run(options))


def _configure_logging(verbose: int) -> None:
    """Quiet by default (our warnings only); ``-v`` more; ``-vv`` every stanza."""
    levels = [logging.ERROR, logging.WARNING, logging.DEBUG]
    logging.basicConfig(level=levels[min(verbose, 2)], format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("slixmpp_jet").setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not verbose:  # slixmpp logs failures the command line reports in its own words
        logging.getLogger("slixmpp").setLevel(logging.CRITICAL)


async def _run(options: Options) -> int:
    command = COMMANDS[options.command]
    reporter = Reporter(options.json)
    main_task = asyncio.current_task()
    assert main_task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, main_task.cancel)
    stopped = False
    try:
        command.check(options)
        async with connected(options) as client:
            reporter.attach(client)
            try:
                await command.run(client, options, reporter)
            except asyncio.CancelledError:
                main_task.uncancel()
                stopped = True
                reporter.note("stopping ...")
                await reporter.cancel_active()
    except CliError as error:
        reporter.note(f"error: {error}")
        return error.status
    except asyncio.CancelledError:
        reporter.note("interrupted")
        return EXIT_INTERRUPTED
    except Exception as error:
        log.debug("unexpected failure", exc_info=True)
        reporter.note(f"error: unexpected failure: {error!r} (-v shows details)")
        return EXIT_FAILED
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    if stopped and not (command.waits and options.count is None):
        return EXIT_INTERRUPTED
    return reporter.exit_status
