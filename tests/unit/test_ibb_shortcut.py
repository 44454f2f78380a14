"""IbbShortcut: the peer's <data/> IQs and the answers to ours, past slixmpp's handlers."""

from __future__ import annotations

import asyncio
from xml.etree import ElementTree as ET

import pytest
from slixmpp import ClientXMPP, Iq, Message
from slixmpp.exceptions import IqError, IqTimeout

from slixmpp_jet.transports.ibb.shortcut import DATA_TAG, IbbShortcut
from slixmpp_jet.transports.ibb.stanza import register_stanzas

pytestmark = pytest.mark.asyncio

PEER = "bob@localhost/b"


class RecordingClient(ClientXMPP):
    """Never connected: keeps what would have been sent."""

    def __init__(self) -> None:
        super().__init__("alice@localhost/a", "unused")
        register_stanzas()
        self.sent: list[object] = []

    def send(self, data, *args, **kwargs) -> None:
        self.sent.append(data)


def incoming(client: ClientXMPP, kind: str, ident: str, sender: str = PEER) -> Iq:
    iq = Iq(client, stype=kind, sfrom=sender, sto="alice@localhost/a", recv=True)
    iq["id"] = ident
    return iq


def ours(client: RecordingClient, shortcut: IbbShortcut) -> Iq:
    iq = Iq(client, stype="set", sto=PEER, recv=True)
    iq["id"] = shortcut.new_id()
    ET.SubElement(iq.xml, DATA_TAG, {"seq": "0", "sid": "s"}).text = "AAAA"
    return iq


async def test_the_peers_answer_resolves_ours_and_goes_no_further() -> None:
    client = RecordingClient()
    shortcut = IbbShortcut(client, lambda iq: None)
    iq = ours(client, shortcut)
    answer = shortcut.send(iq, timeout=30)
    assert client.sent == [iq]
    result = incoming(client, "result", iq["id"])
    assert shortcut.filter(result) is None
    assert await answer is result
    assert shortcut.filter(incoming(client, "result", iq["id"])) is not None  # answered once


async def test_an_error_answer_raises_iq_error() -> None:
    client = RecordingClient()
    shortcut = IbbShortcut(client, lambda iq: None)
    iq = ours(client, shortcut)
    answer = shortcut.send(iq, timeout=30)
    assert shortcut.filter(incoming(client, "error", iq["id"])) is None
    with pytest.raises(IqError):
        await answer


async def test_an_answer_from_someone_else_is_not_ours() -> None:
    client = RecordingClient()
    shortcut = IbbShortcut(client, lambda iq: None)
    iq = ours(client, shortcut)
    answer = shortcut.send(iq, timeout=30)
    stranger = incoming(client, "result", iq["id"], sender="mallory@localhost/m")
    assert shortcut.filter(stranger) is stranger
    assert not answer.done()


async def test_no_answer_in_time_raises_iq_timeout() -> None:
    client = RecordingClient()
    shortcut = IbbShortcut(client, lambda iq: None)
    answer = shortcut.send(ours(client, shortcut), timeout=0.01)
    with pytest.raises(IqTimeout):
        await asyncio.wait_for(answer, 5)


async def test_data_goes_to_the_plugin_and_everything_else_passes() -> None:
    client = RecordingClient()
    seen: list[Iq] = []
    shortcut = IbbShortcut(client, seen.append)
    data = incoming(client, "set", "d1")
    ET.SubElement(data.xml, DATA_TAG, {"seq": "0", "sid": "s"}).text = "AAAA"
    assert shortcut.filter(data) is None
    assert seen == [data]
    other = incoming(client, "set", "q1")
    ET.SubElement(other.xml, "{jabber:iq:version}query")
    message = Message(client)
    assert shortcut.filter(other) is other
    assert shortcut.filter(message) is message


async def test_a_failing_data_handler_is_answered_not_raised() -> None:
    client = RecordingClient()

    def broken(iq: Iq) -> None:
        raise RuntimeError("boom")

    shortcut = IbbShortcut(client, broken)
    data = incoming(client, "set", "d1")
    ET.SubElement(data.xml, DATA_TAG, {"seq": "0", "sid": "s"}).text = "AAAA"
    assert shortcut.filter(data) is None
    assert [sent["type"] for sent in client.sent] == ["error"]


async def test_install_puts_the_filter_last() -> None:
    client = RecordingClient()
    shortcut = IbbShortcut(client, lambda iq: None)
    shortcut.install()
    later = lambda stanza: stanza  # noqa: E731
    client.add_filter("in", later)
    shortcut.install()
    filters = client._XMLStream__filters["in"]
    assert filters[-1] == shortcut.filter
    assert filters.count(shortcut.filter) == 1
    shortcut.uninstall()
    assert shortcut.filter not in client._XMLStream__filters["in"]
