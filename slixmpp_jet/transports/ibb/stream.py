"""The IBB byte stream as the plugin routes to it: a ByteStream that also takes the peer's IQs."""

from __future__ import annotations

import abc

from slixmpp import Iq

from ..base import ByteStream


class IbbStream(ByteStream):
    """One direction of one open IBB session; the plugin hands it the peer's data and close IQs.

    Both handlers run synchronously, in arrival order, and answer the IQ themselves (maybe
    later: a receiver acknowledges a block only when its buffer has room).
    """

    @abc.abstractmethod
    def on_data(self, iq: Iq) -> None:
        """A ``<data/>`` IQ from the peer for this sid."""

    @abc.abstractmethod
    def on_close(self, iq: Iq) -> None:
        """A ``<close/>`` IQ from the peer for this sid: the peer considers the stream ended."""
