"""What the plugin routes to either end of an open IBB session: the peer's data and close IQs."""

from __future__ import annotations

import abc

from slixmpp import Iq


class IbbStream(abc.ABC):
    """The IQ hooks of one end of an IBB session (:class:`~.sender.IbbSender` or
    :class:`~.receiver.IbbReceiver`).

    Both handlers run synchronously, in arrival order, and answer the IQ themselves (maybe
    later: a receiver acknowledges a block only when its buffer has room).
    """

    @abc.abstractmethod
    def on_data(self, iq: Iq) -> None:
        """A ``<data/>`` IQ from the peer for this sid."""

    @abc.abstractmethod
    def on_close(self, iq: Iq) -> None:
        """A ``<close/>`` IQ from the peer for this sid: the peer considers the stream ended."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Stop at once; the peer gets a best-effort ``<close/>``. Safe to call more than once."""
