"""One stanza must not take the client offline: deep and large payloads on the real Prosody.

A stanza nested a thousand levels deep used to make ``iq.reply()`` raise RecursionError in
the XML parser's callback; asyncio then dropped the stream. Each test sends its IQ as raw
text (slixmpp cannot even serialise such a stanza) and checks the answer and that the stream
is still up afterwards.
"""

from __future__ import annotations

import asyncio
import secrets

import pytest
import pytest_asyncio
from slixmpp import ClientXMPP, Iq
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatcherId

from slixmpp_jet.replies import MAX_TEXT
from slixmpp_jet.testing.clients import connect, disconnect, make_client
from slixmpp_jet.testing.prosody import ProsodyServer

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]

DEEP = 1000

JINGLE_ACTIONS = [
    "session-initiate",
    "session-info",
    "session-terminate",
    "transport-info",
    "content-add",
    "transport-replace",
]
IBB_ELEMENTS = ["open", "data", "close"]


def jingle_wrapper(action: str, sid: str = "s1") -> tuple[str, str]:
    return f"<jingle xmlns='urn:xmpp:jingle:1' action='{action}' sid='{sid}'>", "</jingle>"


def ibb_wrapper(element: str) -> tuple[str, str]:
    attributes = "sid='i1' seq='0' block-size='4096' stanza='iq'"
    return f"<{element} xmlns='http://jabber.org/protocol/ibb' {attributes}>", f"</{element}>"


FAMILIES = {
    **{f"jingle {action}": jingle_wrapper(action) for action in JINGLE_ACTIONS},
    **{f"ibb {element}": ibb_wrapper(element) for element in IBB_ELEMENTS},
}


def nested(depth: int) -> str:
    return "<n>" * depth + "</n>" * depth


async def raw_iq(sender: ClientXMPP, to: str, kind: str, payload: str, timeout: float = 10) -> Iq:
    """Send ``<iq>payload</iq>`` as raw text; the answer, whatever its type."""
    iq_id = secrets.token_hex(6)
    answer: asyncio.Future[Iq] = asyncio.get_running_loop().create_future()
    sender.register_handler(
        Callback(f"answer {iq_id}", MatcherId(iq_id), answer.set_result, once=True)
    )
    sender.send_raw(f"<iq type='{kind}' id='{iq_id}' to='{to}'>{payload}</iq>")
    try:
        return await asyncio.wait_for(answer, timeout)
    finally:
        sender.remove_handler(f"answer {iq_id}")


async def assert_still_online(ours: ClientXMPP, peer: ClientXMPP) -> None:
    """The stream is up: ours answers a plain disco#info query."""
    assert ours.is_connected()
    info = await raw_iq(
        peer, ours.boundjid.full, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"
    )
    assert info["type"] == "result"


def error_of(answer: Iq) -> tuple[str, str]:
    assert answer["type"] == "error", answer
    return answer["error"]["condition"], answer["error"]["text"]


@pytest_asyncio.fixture
async def pair_with(prosody, accounts, client_factory):
    """``await pair_with(guard)``: our client (xep_0234, with or without the stream guard) and
    a bare client that speaks for the attacker."""
    made: list[ClientXMPP] = []

    async def make(guard: bool) -> tuple[ClientXMPP, ClientXMPP]:
        ours_account, peer_account = accounts(2)
        ours = make_client(prosody, ours_account, "ours")
        ours.register_plugin("xep_0166", {"stream_guard": guard})
        ours.register_plugin("xep_0234")
        ours.register_plugin("xep_0199")
        made.append(ours)
        await connect(ours, prosody)
        peer = await client_factory(peer_account, "attacker", [])
        return ours, peer

    yield make
    for client in made:
        await disconnect(client)


@pytest.mark.parametrize("family", list(FAMILIES))
async def test_deep_payload_is_refused_by_the_plugin(pair_with, family) -> None:
    """Without the stream guard, our own handlers refuse it before parsing, and the answer is
    built fresh (the old deep copy killed the stream)."""
    ours, peer = await pair_with(guard=False)
    head, tail = FAMILIES[family]
    answer = await raw_iq(peer, ours.boundjid.full, "set", head + nested(DEEP) + tail)
    condition, text = error_of(answer)
    assert condition == "bad-request"
    assert "element is nested deeper than" in text
    await assert_still_online(ours, peer)


@pytest.mark.parametrize("family", [*FAMILIES, "unhandled", "disco", "ping"])
async def test_deep_stanza_is_refused_by_the_stream_guard(pair_with, family) -> None:
    """With the guard (the default), no handler sees it: slixmpp's own included."""
    ours, peer = await pair_with(guard=True)
    wrappers = {
        "unhandled": ("set", "<query xmlns='urn:example:nothing'>", "</query>"),
        "disco": ("get", "<query xmlns='http://jabber.org/protocol/disco#info'>", "</query>"),
        "ping": ("get", "<ping xmlns='urn:xmpp:ping'>", "</ping>"),
    }
    kind, head, tail = wrappers.get(family, ("set", *FAMILIES.get(family, ("", ""))))
    answer = await raw_iq(peer, ours.boundjid.full, kind, head + nested(DEEP) + tail)
    condition, text = error_of(answer)
    assert (condition, text) == ("bad-request", "stanza nested deeper than 64 levels")
    assert ours.plugin["xep_0166"].guard.refused == 1
    await assert_still_online(ours, peer)


@pytest.mark.allow_error_logs
async def test_without_the_guard_slixmpp_itself_drops_the_stream(pair_with) -> None:
    """Why the guard exists: slixmpp's answer to an unhandled IQ deep-copies it. When this
    test fails, slixmpp no longer does, and the guard may go (README, "Hostile XML")."""
    ours, peer = await pair_with(guard=False)
    payload = "<query xmlns='urn:example:nothing'>" + nested(DEEP) + "</query>"
    with pytest.raises(TimeoutError):
        await raw_iq(peer, ours.boundjid.full, "set", payload, timeout=5)
    assert not ours.is_connected()


async def test_wide_jingle_payload_is_refused(pair_with) -> None:
    ours, peer = await pair_with(guard=True)
    head, tail = jingle_wrapper("session-info")
    answer = await raw_iq(peer, ours.boundjid.full, "set", head + "<n/>" * 2000 + tail)
    assert error_of(answer) == ("bad-request", "the jingle element is more than 1024 elements")
    await assert_still_online(ours, peer)


async def test_ibb_element_with_children_is_refused(pair_with) -> None:
    ours, peer = await pair_with(guard=True)
    head, tail = ibb_wrapper("data")
    answer = await raw_iq(peer, ours.boundjid.full, "set", head + "<n/>" + tail)
    assert error_of(answer) == ("bad-request", "the IBB element is nested deeper than 1 levels")


async def test_error_text_does_not_echo_a_long_value(pair_with) -> None:
    """A peer's 5,000-character sid is quoted in the answer only up to a short limit."""
    ours, peer = await pair_with(guard=True)
    head, tail = jingle_wrapper("session-info", sid="x" * 5000)
    answer = await raw_iq(peer, ours.boundjid.full, "set", head + tail)
    condition, text = error_of(answer)
    assert condition == "item-not-found"
    assert text.startswith("no session 'xxx")
    assert len(text) <= MAX_TEXT
    assert len(str(answer)) < 1000


@pytest.mark.parametrize("load_order", ["guard first", "stream management first"])
async def test_a_dropped_stanza_still_counts_for_stream_management(load_order) -> None:
    """XEP-0198: the server counts what it sent; a stanza the guard dropped must be counted
    as handled too (whichever plugin was loaded first), or the server keeps it unacknowledged
    and sends it again on resumption. Two clients get the same number of messages, one of
    them too deep: their counters agree."""
    with ProsodyServer(smacks=True) as server:
        guarded_account, control_account, sender_account = (server.register() for _ in "abc")
        clients = []
        for account, resource in ((guarded_account, "guarded"), (control_account, "control")):
            client = make_client(server, account, resource)
            plugins = ["xep_0166", "xep_0198"]
            for name in plugins if load_order == "guard first" else reversed(plugins):
                client.register_plugin(name)
            clients.append(client)
        guarded, control = clients
        enabled: asyncio.Queue[object] = asyncio.Queue()
        for client in clients:
            client.add_event_handler("sm_enabled", enabled.put_nowait)
            await connect(client, server)
        await asyncio.wait_for(enabled.get(), 10)
        await asyncio.wait_for(enabled.get(), 10)
        sender = make_client(server, sender_account, "sender")
        await connect(sender, server)
        arrived = {"guarded": asyncio.Event(), "control": asyncio.Event()}
        for client, name in ((guarded, "guarded"), (control, "control")):
            client.add_event_handler(
                "message",
                lambda message, name=name: message["body"] == "last" and arrived[name].set(),
            )
        try:
            for client, payload in ((guarded, nested(DEEP)), (control, "<n/>")):
                to = client.boundjid.full
                sender.send_raw(f"<message to='{to}'><body>x</body><x>{payload}</x></message>")
                sender.send_raw(f"<message to='{to}'><body>last</body></message>")
            for event in arrived.values():
                await asyncio.wait_for(event.wait(), 10)
            counts = [client.plugin["xep_0198"].handled for client in clients]
        finally:
            for client in (*clients, sender):
                await disconnect(client)
    assert guarded.plugin["xep_0166"].guard.refused == 1
    assert counts[0] == counts[1]
