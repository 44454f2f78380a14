"""A bot that answers file requests from one directory, for contacts in its roster only.

    SLIXMPP_JET_PASSWORD=... python file_server.py --jid files@example.org/server --dir public

A contact runs ``slixmpp-jet request --from files@example.org/server --name report.pdf ...``.
Only files directly inside the directory are served (``../secret`` and sub-directories never
are), and only to roster contacts with a presence subscription: anyone else is declined by the
peer gate before their request is read. A request sealed with OMEMO is answered encrypted with
the requester's key.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import slixmpp

import slixmpp_jet  # registers the Jingle, file transfer, SOCKS5, IBB, JET plugins
from slixmpp_jet.file_transfer.admission import subscribed_contacts
from slixmpp_jet.jet import omemo_plugin  # a ready OMEMO plugin: storage, trust policy, JET keys


async def serve(args: argparse.Namespace) -> int:
    xmpp = slixmpp.ClientXMPP(
        args.jid,
        os.environ["SLIXMPP_JET_PASSWORD"],
        plugin_config={"feature_mechanisms": {"unencrypted_scram": args.plaintext}},
    )
    if args.plaintext:  # a throwaway test server on loopback only: no TLS at all
        xmpp.enable_direct_tls = False
        xmpp.enable_plaintext = True
    xmpp.register_plugin("xep_0384", {"storage_path": args.omemo_store}, module=omemo_plugin)
    xmpp.register_plugin("xep_0234")  # file transfer; pulls in Jingle, SOCKS5, IBB, JET
    # The peer gate: strangers are declined before anything of their request is read.
    xmpp.plugin["xep_0234"].allow_peer = subscribed_contacts(xmpp.client_roster)

    def log_request(peer: str, file: slixmpp_jet.FileInfo) -> bool:
        """Asked for every contact's request of an existing file; False answers 'not available'."""
        print(f"{peer} asks for {file.name}")
        return True

    served = 0
    enough = asyncio.Event()

    def on_done(result: slixmpp_jet.TransferResult) -> None:
        nonlocal served
        print(f"served {result.name} to {result.peer}, sha-256 {result.sha256}", flush=True)
        served += 1
        if args.count and served >= args.count:
            enough.set()

    async def on_start(_event: object) -> None:
        await xmpp.get_roster()  # the roster is what the peer gate consults
        xmpp.send_presence()

    ready = asyncio.get_running_loop().create_future()
    xmpp.add_event_handler("session_start", on_start)
    xmpp.add_event_handler("jingle_transfer_done", on_done)
    xmpp.add_event_handler("omemo_initialized", lambda _: ready.set_result(None))
    xmpp.add_event_handler(
        "failed_all_auth", lambda _: ready.set_exception(RuntimeError("login failed"))
    )
    xmpp.connect(args.host, args.port)
    await asyncio.wait_for(ready, 30)
    xmpp.plugin["xep_0234"].serve(args.dir, allow=log_request)
    print(f"ready: {xmpp.boundjid} serves {args.dir.resolve()}", flush=True)
    await enough.wait()  # forever, unless --count
    await xmpp.disconnect()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jid", required=True, help="the bot's account; add /resource to fix it")
    parser.add_argument("--dir", type=Path, default=Path("public"))
    parser.add_argument("--omemo-store", default="server-omemo.json")
    parser.add_argument("--count", type=int, help="stop after serving this many files")
    parser.add_argument("--host", help="server address (with --port), if DNS does not find it")
    parser.add_argument("--port", type=int)
    parser.add_argument("--plaintext", action="store_true", help="test server on loopback only")
    return asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
