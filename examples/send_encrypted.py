"""Send files end-to-end encrypted (JET over OMEMO) to one client of a contact.

    SLIXMPP_JET_PASSWORD=... python send_encrypted.py --jid alice@example.org \
        --to bob@example.org/phone report.pdf photo.jpg

The file is never sent unencrypted: if the contact's client cannot do JET-OMEMO, or has no
OMEMO device we trust, sending fails with a clear error instead. Exit status 0 when every file
arrived and the receiver confirmed it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import slixmpp

import slixmpp_jet  # registers the Jingle, file transfer, SOCKS5, IBB, JET plugins
from slixmpp_jet.jet import omemo_plugin  # a ready OMEMO plugin: storage, trust policy, JET keys


async def send_files(args: argparse.Namespace) -> int:
    xmpp = slixmpp.ClientXMPP(
        args.jid,
        os.environ["SLIXMPP_JET_PASSWORD"],
        plugin_config={"feature_mechanisms": {"unencrypted_scram": args.plaintext}},
    )
    if args.plaintext:  # a throwaway test server on loopback only: no TLS at all
        xmpp.enable_direct_tls = False
        xmpp.enable_plaintext = True
    # OMEMO keeps this client's identity in a file, so the contact sees the same device
    # every time; "blind" trusts a contact's devices until one of them is verified by hand.
    xmpp.register_plugin(
        "xep_0384", {"storage_path": args.omemo_store, "trust": "blind"}, module=omemo_plugin
    )
    xmpp.register_plugin("xep_0234")  # file transfer; pulls in Jingle, SOCKS5, IBB, JET

    ready = asyncio.get_running_loop().create_future()
    xmpp.add_event_handler("session_start", lambda _: xmpp.send_presence())
    xmpp.add_event_handler("omemo_initialized", lambda _: ready.set_result(None))
    xmpp.add_event_handler(
        "failed_all_auth", lambda _: ready.set_exception(RuntimeError("login failed"))
    )
    xmpp.connect(args.host, args.port)
    await asyncio.wait_for(ready, 30)  # OMEMO must be up before the first encrypted offer

    failures = 0
    for path in args.files:
        try:
            transfer = await xmpp.plugin["xep_0234"].send_file(args.to, path, encrypt="omemo")
            result = await transfer  # the receiver has verified the tag and the checksum
            print(f"sent {result.name} ({result.size} bytes), sha-256 {result.sha256}")
        except slixmpp_jet.JetError as error:  # declined, no trusted device, security error...
            print(f"{path.name} was not sent: {error}", file=sys.stderr)
            failures += 1
    await xmpp.disconnect()
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jid", required=True, help="your account, user@domain")
    parser.add_argument("--to", required=True, help="the contact's full JID, with /resource")
    parser.add_argument("--omemo-store", default="sender-omemo.json")
    parser.add_argument("--host", help="server address (with --port), if DNS does not find it")
    parser.add_argument("--port", type=int)
    parser.add_argument("--plaintext", action="store_true", help="test server on loopback only")
    parser.add_argument("files", nargs="+", type=Path)
    return asyncio.run(send_files(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
