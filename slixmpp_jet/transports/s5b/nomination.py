"""Which candidate carries the bytes: the rules of XEP-0260 §2.3-2.4, without I/O.

Each party reports once: the peer's candidate it connected to (:class:`UsedCandidate`), or
that none worked (:class:`NoCandidate`). From the two reports :func:`nominate` picks the
candidate both sides will use; :func:`worth_trying` says whether a candidate could still
beat the one the peer already reported.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UsedCandidate:
    """A party connected to the other party's candidate ``cid`` (``<candidate-used/>``)."""

    cid: str
    priority: int


@dataclass(frozen=True)
class NoCandidate:
    """A party connected to none of the other party's candidates (``<candidate-error/>``)."""


Report = UsedCandidate | NoCandidate


@dataclass(frozen=True)
class Nominated:
    """The candidate both parties use; ``ours`` when we offered it (the peer connected to it)."""

    cid: str
    priority: int
    ours: bool


def nominate(local: Report, remote: Report, *, initiator: bool) -> Nominated | None:
    """The nominated candidate, or ``None`` when both parties failed (XEP-0260 §2.4).

    ``local`` is our report (a candidate the peer offered), ``remote`` the peer's report (a
    candidate we offered); ``initiator`` says whether we initiated the Jingle session.
    """
    if isinstance(local, UsedCandidate) and isinstance(remote, UsedCandidate):
        if local.priority != remote.priority:  # rule 3: the higher priority wins
            local_wins = local.priority > remote.priority
        else:  # rule 4: equal priorities, the initiator's choice wins
            local_wins = initiator
        return _nominated(local, ours=False) if local_wins else _nominated(remote, ours=True)
    if isinstance(local, UsedCandidate):  # rule 2: candidate-used beats candidate-error
        return _nominated(local, ours=False)
    if isinstance(remote, UsedCandidate):
        return _nominated(remote, ours=True)
    return None  # rule 1: both sent candidate-error


def worth_trying(priority: int, remote: Report | None, *, initiator: bool) -> bool:
    """Whether connecting to a peer candidate of ``priority`` could still change the outcome.

    After the peer reported a candidate, only ours of higher priority can win, or of equal
    priority when we are the initiator (§2.3, rule 4).
    """
    if not isinstance(remote, UsedCandidate):
        return True
    return priority > remote.priority or (priority == remote.priority and initiator)


def _nominated(report: UsedCandidate, *, ours: bool) -> Nominated:
    return Nominated(report.cid, report.priority, ours)
