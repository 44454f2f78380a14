"""AfterRead on slixmpp's own stream parsing, and the plugin that unloads its hooks."""

from __future__ import annotations

import pytest
import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

import slixmpp_jet  # noqa: F401  (registers the plugins)
from slixmpp_jet.stream_hook import AfterRead

HEADER = (
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    b"from='example.org' id='s1' version='1.0'>"
)


def open_stream(client: slixmpp.ClientXMPP) -> list[str]:
    """Start parsing a stream on ``client``; the ids of the messages it handles go to the list."""
    handled: list[str] = []
    client.register_handler(
        Callback(
            "messages", MatchXPath("{jabber:client}message"), lambda m: handled.append(m["id"])
        )
    )
    client.init_parser()
    client.data_received(HEADER)
    return handled


def message(ident: str) -> bytes:
    return f"<message id='{ident}'><body>hi</body></message>".encode()


def test_reads_reach_the_hook_after_slixmpp_and_stop_once_removed() -> None:
    client = slixmpp.ClientXMPP("me@example.org/r", "unused")
    seen: list[tuple[bytes, int]] = []
    handled = open_stream(client)
    hook = AfterRead(client, lambda data: seen.append((data, len(handled))))
    hook.install()
    client.data_received(message("1"))
    assert seen == [(message("1"), 1)]  # slixmpp had handled the stanza already
    hook.remove()
    assert "data_received" not in vars(client)  # slixmpp's own method, as found
    client.data_received(message("2"))
    assert handled == ["1", "2"]
    assert len(seen) == 1
    assert not hook.installed


def test_a_hook_removed_under_a_later_one_goes_quiet_and_the_later_one_still_works() -> None:
    client = slixmpp.ClientXMPP("me@example.org/r", "unused")
    handled = open_stream(client)
    calls: dict[str, int] = {"first": 0, "second": 0}
    first = AfterRead(client, lambda _data: calls.__setitem__("first", calls["first"] + 1))
    second = AfterRead(client, lambda _data: calls.__setitem__("second", calls["second"] + 1))
    first.install()
    second.install()
    first.remove()  # not the outermost: it cannot unwrap, so it stops calling back
    client.data_received(message("1"))
    assert calls == {"first": 0, "second": 1}
    second.remove()
    client.data_received(message("2"))
    assert calls == {"first": 0, "second": 1}
    assert handled == ["1", "2"]


def test_installing_twice_is_refused() -> None:
    hook = AfterRead(slixmpp.ClientXMPP("me@example.org/r", "unused"), lambda _data: None)
    hook.install()
    with pytest.raises(ValueError, match="installed already"):
        hook.install()


def test_unloading_jingle_takes_its_stream_hooks_away() -> None:
    client = slixmpp.ClientXMPP("me@example.org/r", "unused")
    client.register_plugin("xep_0166")
    jingle = client.plugin["xep_0166"]
    assert "data_received" in vars(client)  # quick acknowledgement and parser renewal
    handled = open_stream(client)
    client.plugin.disable("xep_0166")
    assert "data_received" not in vars(client)
    assert jingle.parser_renewal is not None
    client.data_received(message("1") * 3)
    assert handled == ["1", "1", "1"]
