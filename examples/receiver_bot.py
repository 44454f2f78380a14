"""A bot that accepts encrypted files into a directory, with a trust policy and a size limit.

    SLIXMPP_JET_PASSWORD=... python receiver_bot.py --jid bot@example.org --dir inbox \
        --max-size 50000000 --trust-fingerprint "05a1c9e7 ..."

Only roster contacts with a presence subscription may offer (anyone else is declined by the
peer gate before their offer is read); unencrypted offers and files over the limit are
declined. Trust policy: with no
--trust-fingerprint, OMEMO devices are trusted blindly until verified (BTBV); with some, only
devices with one of those fingerprints may send (everyone else's offers fail a security check).
Files are written to a temporary file and appear in the directory only once the GCM tag and the
hash have been verified.
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


def trust_policy(fingerprints: list[str]) -> dict[str, object]:
    """OMEMO plugin settings: blind trust, or only the devices with these fingerprints."""
    if not fingerprints:
        return {"trust": "blind"}
    wanted = {f.replace(" ", "").lower() for f in fingerprints}

    def decide(bare_jid: str, device_id: int, fingerprint: str) -> bool:
        trusted = fingerprint.replace(" ", "").lower() in wanted
        print(f"device {device_id} of {bare_jid}: {'trusted' if trusted else 'refused'}")
        return trusted  # asked once per new device; the answer is kept in the store

    return {"trust": "manual", "trust_callback": decide}


async def run_bot(args: argparse.Namespace) -> int:
    xmpp = slixmpp.ClientXMPP(
        args.jid,
        os.environ["SLIXMPP_JET_PASSWORD"],
        plugin_config={"feature_mechanisms": {"unencrypted_scram": args.plaintext}},
    )
    if args.plaintext:  # a throwaway test server on loopback only: no TLS at all
        xmpp.enable_direct_tls = False
        xmpp.enable_plaintext = True
    omemo = {"storage_path": args.omemo_store, **trust_policy(args.trust_fingerprint)}
    xmpp.register_plugin("xep_0384", omemo, module=omemo_plugin)
    xmpp.register_plugin("xep_0234")  # file transfer; pulls in Jingle, SOCKS5, IBB, JET
    xmpp.plugin["xep_0234"].allow_peer = subscribed_contacts(xmpp.client_roster)

    received = 0
    enough = asyncio.Event()

    async def on_offer(offer: slixmpp_jet.FileOffer) -> None:
        nonlocal received
        if offer.security is None:
            await offer.decline(text="this bot accepts end-to-end encrypted files only")
            return
        if offer.file.size is None or offer.file.size > args.max_size:
            await offer.decline(text=f"files over {args.max_size} bytes are refused")
            return
        print(f"accepting {offer.file.name} from {offer.security.sender_identity}")
        try:
            result = await (await offer.accept(args.dir))
            print(f"saved {result.path} ({result.size} bytes), sha-256 {result.sha256}")
        except slixmpp_jet.JetError as error:  # tampered, truncated, cancelled...
            print(f"{offer.file.name} failed: {error}", file=sys.stderr)
        received += 1
        if args.count and received >= args.count:
            enough.set()

    async def on_start(_event: object) -> None:
        await xmpp.get_roster()  # the roster is what the peer gate consults
        xmpp.send_presence()

    ready = asyncio.get_running_loop().create_future()
    xmpp.add_event_handler("jingle_file_offer", on_offer)
    xmpp.add_event_handler("session_start", on_start)
    xmpp.add_event_handler("omemo_initialized", lambda _: ready.set_result(None))
    xmpp.add_event_handler(
        "failed_all_auth", lambda _: ready.set_exception(RuntimeError("login failed"))
    )
    xmpp.connect(args.host, args.port)
    await asyncio.wait_for(ready, 30)
    print(f"ready: {xmpp.boundjid} saves encrypted files into {args.dir}", flush=True)
    await enough.wait()  # forever, unless --count
    await xmpp.disconnect()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jid", required=True, help="the bot's account; add /resource to fix it")
    parser.add_argument("--dir", type=Path, default=Path("inbox"))
    parser.add_argument("--max-size", type=int, default=100_000_000, help="bytes")
    parser.add_argument("--trust-fingerprint", action="append", default=[], metavar="HEX")
    parser.add_argument("--omemo-store", default="receiver-omemo.json")
    parser.add_argument("--count", type=int, help="stop after this many files")
    parser.add_argument("--host", help="server address (with --port), if DNS does not find it")
    parser.add_argument("--port", type=int)
    parser.add_argument("--plaintext", action="store_true", help="test server on loopback only")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(run_bot(args))


if __name__ == "__main__":
    sys.exit(main())
