"""ParserRenewal on slixmpp's own stream parser, fed the stream text directly (no server).

Renewal happens only where the old parser holds no part of a token: whatever the split of
the stream into reads, every stanza comes out whole and in order, renewed or not.
"""

from __future__ import annotations

import itertools

import pytest
import slixmpp
from hypothesis import given, settings
from hypothesis import strategies as st
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from slixmpp_jet.parser_renewal import ParserRenewal

HEADER = (
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    b"from='example.org' id='s1' version='1.0'>"
)


def stanza(index: int) -> bytes:
    """Tricky on purpose: '/>' and '>' inside attribute values, empty and full elements,
    a namespace no earlier stanza had."""
    return (
        b"<message id='%d' note='a/>b'><x xmlns='urn:example:%d' v=\"1/>\">t</x></message>"
        b"<iq type='result' id='r%d' note=\"'/>\"/>" % (index, index, index)
    )


def expected(count: int) -> list[tuple[str, str]]:
    return [(f"{i}", f"urn:example:{i}") for i in range(count)]


class Stream:
    """A client with ParserRenewal installed, its stream open, collecting message payloads."""

    def __init__(self, renew_after: int) -> None:
        self.client = slixmpp.ClientXMPP("me@example.org/r", "unused")
        self.seen: list[tuple[str, str]] = []
        self.client.register_handler(
            Callback("messages", MatchXPath("{jabber:client}message"), self._on_message)
        )
        self.renewal = ParserRenewal(self.client, renew_after)
        self.renewal.install()
        self.client.init_parser()
        self.client.data_received(HEADER)

    def _on_message(self, message: slixmpp.Message) -> None:
        payload = message.xml[0]
        self.seen.append((message["id"], payload.tag.partition("}")[0][1:]))

    def feed(self, data: bytes, cuts: list[int]) -> None:
        bounds = [0, *sorted(set(cuts)), len(data)]
        for start, end in itertools.pairwise(bounds):
            if end > start:
                self.client.data_received(data[start:end])


@settings(max_examples=300, deadline=None)
@given(
    count=st.integers(1, 30),
    cuts=st.lists(st.integers(0, 4000), max_size=40),
    after_gt=st.lists(st.integers(0, 400), max_size=40),
    renew_after=st.integers(1, 600),
)
def test_any_split_of_the_stream_yields_every_stanza_whole(
    count: int, cuts: list[int], after_gt: list[int], renew_after: int
) -> None:
    """Reads cut anywhere, and often right after a '>' (inside a value or not)."""
    stream = Stream(renew_after)
    data = b"".join(stanza(i) for i in range(count))
    gts = [i + 1 for i, byte in enumerate(data) if byte == ord(">")]
    chosen = [cut for cut in cuts if cut < len(data)] + [gts[i % len(gts)] for i in after_gt]
    stream.feed(data, chosen)
    assert stream.seen == expected(count)


def test_reads_of_whole_stanzas_renew_the_parser() -> None:
    stream = Stream(renew_after=1)
    first_parser = stream.client.parser
    for index in range(20):
        stream.client.data_received(stanza(index))
    assert stream.renewal.renewals == 20
    assert stream.client.parser is not first_parser
    assert stream.seen == expected(20)


def test_a_read_ending_inside_a_tag_waits_for_a_boundary() -> None:
    """'/>' inside a quoted value is not the end of the tag: no renewal there."""
    stream = Stream(renew_after=1)
    whole = stanza(0)
    cut = whole.index(b"a/>") + 3
    stream.client.data_received(whole[:cut])
    assert stream.renewal.renewals == 0
    stream.client.data_received(whole[cut:])
    assert stream.renewal.renewals == 1
    assert stream.seen == expected(1)


def test_renew_after_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ParserRenewal(slixmpp.ClientXMPP("me@example.org/r", "unused"), 0)
