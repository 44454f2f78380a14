"""A structured fuzzer for the Jingle, IBB, SOCKS5 and JET handlers, run against real processes.

``python -m slixmpp_jet.testing.fuzz --seed 1 --stanzas 100000`` starts a throwaway Prosody, a
``slixmpp-jet receive`` and a ``slixmpp-jet serve``, attacks both with seeded mutations of
session-initiate (plain and JET), transport-info, session-info, session-terminate, content-add,
transport-replace and IBB open/data/close (some aimed at sessions the attacker opened for real),
and reports stanzas per second per family, answers, unanswered IQs, stream losses, process
deaths, tracebacks, descriptors and memory, files left behind and whether a legitimate
``send`` and ``request`` still succeed. The exit status is 1 when a problem was found.
"""

from __future__ import annotations

from .campaign import Report, run_campaign

__all__ = ["Report", "run_campaign"]
