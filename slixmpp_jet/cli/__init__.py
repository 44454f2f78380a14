"""``slixmpp-jet`` (also ``python -m slixmpp_jet``): send, receive, request and serve files.

``main()`` parses the command line, logs in, runs one command and returns the exit status
(see :mod:`.failures`). The modules: :mod:`.options` (grammar), :mod:`.connection` (login),
:mod:`.peers` (reachability, encryption choice), :mod:`.omemo_store` (the OMEMO identity),
:mod:`.commands`, :mod:`.report` and :mod:`.progress` (what the user sees).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from .commands import COMMANDS
from .connection import LostStream, connected
from .failures import EXIT_CONNECT, EXIT_FAILED, EXIT_INTERRUPTED, CliError
from .logs import configure as configure_logging
from .omemo_store import claimed_store
from .options import Options, parse
from .report import Reporter
from .stopping import Interruption, Work

__all__ = ["main"]

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    try:
        options = parse(argv)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:  # Ctrl-C at the password prompt
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    configure_logging(options.verbose, options.debug)
    try:
        return asyncio.run(_run(options))
    except KeyboardInterrupt:  # Ctrl-C before our own signal handlers were in place
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


async def _run(options: Options) -> int:
    """Log in, run the command, end every transfer; SIGINT/SIGTERM stop it (see :mod:`.stopping`).

    Stopped while a transfer is under way (or before ``send``, ``request`` or ``--count`` are
    done), the command says "interrupted" and exits with 128 + the signal number. ``receive``
    and ``serve`` without ``--count`` stopped while idle say "stopped" and end normally.
    ``receive`` and ``serve`` come back after losing the stream; ``send`` and ``request`` end
    with an error saying so (:data:`EXIT_CONNECT`).
    """
    command = COMMANDS[options.command]
    reporter = Reporter(options.json, terse=options.quiet)
    work = Work()
    main_task = asyncio.current_task()
    assert main_task is not None
    interrupted_status: int | None = None

    def on_signal(signum: int) -> None:
        nonlocal interrupted_status
        reporter.stopping = True  # the transfers cancelled now are not failures to report
        if command.waits and options.count is None and not work.busy:
            reporter.note("stopped")
        else:
            interrupted_status = 128 + signum
            reporter.note("interrupted")

    interruption = Interruption(main_task, on_signal)
    loop = asyncio.get_running_loop()
    interruption.install(loop)
    try:
        command.check(options)
        with claimed_store(options) as options:
            async with connected(options, stay_online=command.waits) as client:
                reporter.attach(client, work)
                ending = "jet_reconnect_stopped" if command.waits else "disconnected"
                lost = LostStream(client, main_task, ending)
                try:
                    await command.run(client, options, reporter, work)
                except asyncio.CancelledError:
                    if not interruption.requested and lost.reason is None:
                        raise
                    main_task.uncancel()
                finally:
                    lost.close()
                await work.stop()
                if lost.reason is not None and not interruption.requested:
                    reason = f"lost the connection to the server ({lost.reason})"
                    raise CliError(reason, EXIT_CONNECT)
    except CliError as error:
        if not interruption.requested:
            reporter.error(str(error), error.status)
            return error.status
    except asyncio.CancelledError:
        if not interruption.requested:
            raise
        main_task.uncancel()
    except Exception as error:
        log.debug("unexpected failure", exc_info=True)
        reporter.error(f"unexpected failure: {error!r} (-v shows details)", EXIT_FAILED)
        return EXIT_FAILED
    finally:
        interruption.remove(loop)
    if interrupted_status is not None:
        return interrupted_status
    return reporter.exit_status
