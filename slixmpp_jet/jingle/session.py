"""The Jingle session state machine (XEP-0166 §5, §7.2): sans-I/O and table-driven.

It never awaits, never touches a socket, never imports slixmpp. The plugin feeds it every
action it sends or receives; the machine says whether that action is legal now and moves to
the next state. Illegal input raises :class:`~slixmpp_jet.errors.ProtocolError` carrying the
IQ error the plugin must answer with.

Theory of operation::

    NEW --session-initiate--> PENDING --session-accept--> ACTIVE
     |                          |  \\__ any other action __/  |
     |                          +--session-terminate--> ENDED <-+

* ``session-initiate`` only from the initiator, ``session-accept`` only from the responder.
* ``content-add`` must be answered by ``content-accept``/``content-reject`` and
  ``transport-replace`` by ``transport-accept``/``transport-reject``, from the other party. When
  both parties send the same request at once, the initiator's wins (§7.2.16).
* Nothing is legal once ENDED: the plugin answers ``<unknown-session/>``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from ..errors import ProtocolError


@enum.unique
class Role(enum.Enum):
    """Which party of the session."""

    INITIATOR = "initiator"
    RESPONDER = "responder"

    @property
    def other(self) -> Role:
        return Role.RESPONDER if self is Role.INITIATOR else Role.INITIATOR


@enum.unique
class State(enum.Enum):
    """Session states of XEP-0166 §5.1, plus NEW before session-initiate."""

    NEW = "new"
    PENDING = "pending"
    ACTIVE = "active"
    ENDED = "ended"


@enum.unique
class Action(enum.Enum):
    """Every action of XEP-0166 §7.2."""

    CONTENT_ACCEPT = "content-accept"
    CONTENT_ADD = "content-add"
    CONTENT_MODIFY = "content-modify"
    CONTENT_REJECT = "content-reject"
    CONTENT_REMOVE = "content-remove"
    DESCRIPTION_INFO = "description-info"
    SECURITY_INFO = "security-info"
    SESSION_ACCEPT = "session-accept"
    SESSION_INFO = "session-info"
    SESSION_INITIATE = "session-initiate"
    SESSION_TERMINATE = "session-terminate"
    TRANSPORT_ACCEPT = "transport-accept"
    TRANSPORT_INFO = "transport-info"
    TRANSPORT_REJECT = "transport-reject"
    TRANSPORT_REPLACE = "transport-replace"


_EITHER = frozenset(Role)
_IN_SESSION = (State.PENDING, State.ACTIVE)

_LIFECYCLE: dict[tuple[State, Action], State] = {
    (State.NEW, Action.SESSION_INITIATE): State.PENDING,
    (State.PENDING, Action.SESSION_ACCEPT): State.ACTIVE,
    (State.PENDING, Action.SESSION_TERMINATE): State.ENDED,
    (State.ACTIVE, Action.SESSION_TERMINATE): State.ENDED,
}
_LIFECYCLE_ACTIONS = frozenset(action for _, action in _LIFECYCLE)

TRANSITIONS: Mapping[tuple[State, Action], State] = {
    **_LIFECYCLE,
    **{
        (state, action): state
        for state in _IN_SESSION
        for action in Action
        if action not in _LIFECYCLE_ACTIONS
    },
}
"""(state, action) -> next state, for every legal pair; anything else is out of order."""

SENDERS: Mapping[Action, frozenset[Role]] = {
    **dict.fromkeys(Action, _EITHER),
    Action.SESSION_INITIATE: frozenset({Role.INITIATOR}),
    Action.SESSION_ACCEPT: frozenset({Role.RESPONDER}),
}
"""Which roles may send each action."""

REPLIES: Mapping[Action, frozenset[Action]] = {
    Action.CONTENT_ADD: frozenset({Action.CONTENT_ACCEPT, Action.CONTENT_REJECT}),
    Action.TRANSPORT_REPLACE: frozenset({Action.TRANSPORT_ACCEPT, Action.TRANSPORT_REJECT}),
}
"""Requests that must be answered by the other party with one of these actions."""

_ANSWERS: Mapping[Action, Action] = {
    reply: request for request, replies in REPLIES.items() for reply in replies
}


def out_of_order(message: str) -> ProtocolError:
    """The error for an action not valid in the current state (XEP-0166 §10)."""
    return ProtocolError(message, condition="unexpected-request", jingle_condition="out-of-order")


def unknown_session(sid: str) -> ProtocolError:
    """The error for an unknown or ended session (XEP-0166 §10)."""
    return ProtocolError(
        f"no session {sid!r} with this peer",
        condition="item-not-found",
        jingle_condition="unknown-session",
    )


def tie_break_lost(sid: str, own_jid: str, other_sid: str, other_jid: str) -> bool:
    """True if our session-initiate loses against an equivalent one from the peer.

    The lower sid wins (i;octet); with equal sids the lower JID wins (XEP-0166 §7.2.16).
    """
    ours, theirs = (sid.encode(), own_jid.encode()), (other_sid.encode(), other_jid.encode())
    return theirs < ours


class SessionState:
    """The legality and state of one Jingle session, seen from one party."""

    def __init__(self, sid: str, role: Role) -> None:
        self.sid = sid
        self.role = role
        self.state = State.NEW
        self._open_requests: dict[Action, Role] = {}

    @property
    def ended(self) -> bool:
        return self.state is State.ENDED

    def send(self, action: Action) -> None:
        """Record an action we send; raises ProtocolError if we may not send it now."""
        self._apply(action, self.role)

    def receive(self, action: Action) -> None:
        """Record an action the peer sent; raises the ProtocolError to answer it with."""
        self._apply(action, self.role.other)

    def abandon(self) -> None:
        """End without a session-terminate on the wire: the peer went away, or never heard of us."""
        self.state = State.ENDED
        self._open_requests.clear()

    def _apply(self, action: Action, sender: Role) -> None:
        if self.state is State.ENDED:
            raise unknown_session(self.sid)
        next_state = TRANSITIONS.get((self.state, action))
        if next_state is None or sender not in SENDERS[action]:
            state = self.state.value
            raise out_of_order(f"{action.value} from the {sender.value} in state {state}")
        if action in REPLIES:
            self._open_request(action, sender)
        elif action in _ANSWERS:
            self._close_request(_ANSWERS[action], sender)
        self.state = next_state
        if next_state is State.ENDED:
            self._open_requests.clear()

    def _open_request(self, request: Action, sender: Role) -> None:
        holder = self._open_requests.get(request)
        if holder is sender:
            raise out_of_order(f"{request.value} already pending")
        if holder is not None and sender is Role.RESPONDER:
            raise ProtocolError(
                f"simultaneous {request.value}: the initiator's wins",
                condition="conflict",
                jingle_condition="tie-break",
            )
        self._open_requests[request] = sender

    def _close_request(self, request: Action, sender: Role) -> None:
        if self._open_requests.get(request) is not sender.other:
            raise out_of_order(f"no {request.value} from the {sender.other.value} to answer")
        del self._open_requests[request]

    def pending_request(self, request: Action) -> Role | None:
        """Who has an unanswered ``content-add`` / ``transport-replace`` open, if anyone."""
        return self._open_requests.get(request)
