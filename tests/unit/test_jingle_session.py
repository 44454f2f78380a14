"""The sans-I/O Jingle state machine: every legal and illegal move, request pairing, tie-breaks."""

from __future__ import annotations

import itertools

import pytest

from slixmpp_jet.errors import ProtocolError
from slixmpp_jet.jingle.session import (
    REPLIES,
    SENDERS,
    TRANSITIONS,
    Action,
    Role,
    SessionState,
    State,
    tie_break_lost,
)

INITIATOR, RESPONDER = Role.INITIATOR, Role.RESPONDER

# The actions (and who sends them) that bring a fresh session into each state.
_PATH_TO: dict[State, list[tuple[Action, Role]]] = {
    State.NEW: [],
    State.PENDING: [(Action.SESSION_INITIATE, INITIATOR)],
    State.ACTIVE: [(Action.SESSION_INITIATE, INITIATOR), (Action.SESSION_ACCEPT, RESPONDER)],
    State.ENDED: [(Action.SESSION_INITIATE, INITIATOR), (Action.SESSION_TERMINATE, RESPONDER)],
}
_REQUEST_OF = {reply: request for request, replies in REPLIES.items() for reply in replies}


def apply(machine: SessionState, action: Action, sender: Role) -> None:
    """Feed ``action`` as sent by ``sender``: our own send or the peer's, as the role says."""
    if sender is machine.role:
        machine.send(action)
    else:
        machine.receive(action)


def session_at(state: State, role: Role) -> SessionState:
    machine = SessionState("a73sjjvkla37jfea", role)
    for action, sender in _PATH_TO[state]:
        apply(machine, action, sender)
    assert machine.state is state
    return machine


def legal_moves() -> list[tuple[State, Action, Role, Role]]:
    """(state, action, sender, our role) for every legal move, seen by both parties."""
    return [
        (state, action, sender, role)
        for (state, action) in TRANSITIONS
        for sender in SENDERS[action]
        for role in Role
    ]


def illegal_moves() -> list[tuple[State, Action, Role, Role]]:
    """Every (state, action, sender, our role) outside the table, except in ENDED."""
    live_states = [state for state in State if state is not State.ENDED]
    return [
        (state, action, sender, role)
        for state, action, sender, role in itertools.product(live_states, Action, Role, Role)
        if (state, action) not in TRANSITIONS or sender not in SENDERS[action]
    ]


def _move_id(move: tuple[State, Action, Role, Role]) -> str:
    state, action, sender, role = move
    verb = "sends" if sender is role else "receives"
    return f"{role.value}-{verb}-{action.value}-in-{state.value}"


def test_table_covers_the_spec_states() -> None:
    """Sanity of the data itself: the lifecycle of XEP-0166 §5.1 is in the table."""
    assert TRANSITIONS[State.NEW, Action.SESSION_INITIATE] is State.PENDING
    assert TRANSITIONS[State.PENDING, Action.SESSION_ACCEPT] is State.ACTIVE
    assert TRANSITIONS[State.PENDING, Action.SESSION_TERMINATE] is State.ENDED
    assert TRANSITIONS[State.ACTIVE, Action.SESSION_TERMINATE] is State.ENDED
    assert not any(state is State.ENDED for state, _ in TRANSITIONS)
    assert set(SENDERS) == set(Action)


@pytest.mark.parametrize("move", legal_moves(), ids=_move_id)
def test_every_legal_move_reaches_the_table_state(
    move: tuple[State, Action, Role, Role],
) -> None:
    state, action, sender, role = move
    machine = session_at(state, role)
    if action in _REQUEST_OF:
        apply(machine, _REQUEST_OF[action], sender.other)
    apply(machine, action, sender)
    assert machine.state is TRANSITIONS[state, action]
    assert machine.ended is (machine.state is State.ENDED)


@pytest.mark.parametrize("move", illegal_moves(), ids=_move_id)
def test_every_illegal_move_is_out_of_order(move: tuple[State, Action, Role, Role]) -> None:
    state, action, sender, role = move
    machine = session_at(state, role)
    with pytest.raises(ProtocolError) as caught:
        apply(machine, action, sender)
    assert caught.value.condition == "unexpected-request"
    assert caught.value.jingle_condition == "out-of-order"
    assert action.value in str(caught.value)
    assert machine.state is state


@pytest.mark.parametrize(
    ("action", "sender", "role"), list(itertools.product(Action, Role, Role)), ids=str
)
def test_anything_after_ended_is_an_unknown_session(
    action: Action, sender: Role, role: Role
) -> None:
    machine = session_at(State.ENDED, role)
    with pytest.raises(ProtocolError) as caught:
        apply(machine, action, sender)
    assert caught.value.condition == "item-not-found"
    assert caught.value.jingle_condition == "unknown-session"
    assert machine.sid in str(caught.value)
    assert machine.ended


_PAIRS = [
    (request, reply) for request, replies in REPLIES.items() for reply in sorted(replies, key=str)
]


def _pair_id(pair: tuple[Action, Action]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


@pytest.mark.parametrize("pair", _PAIRS, ids=_pair_id)
@pytest.mark.parametrize("requester", list(Role), ids=lambda role: role.value)
@pytest.mark.parametrize("role", list(Role), ids=lambda role: f"as-{role.value}")
def test_a_request_is_answered_once_by_the_other_party(
    pair: tuple[Action, Action], requester: Role, role: Role
) -> None:
    request, reply = pair
    machine = session_at(State.ACTIVE, role)
    apply(machine, request, requester)
    assert machine.pending_request(request) is requester

    with pytest.raises(ProtocolError, match=r"no .* to answer") as own_answer:
        apply(machine, reply, requester)
    assert own_answer.value.jingle_condition == "out-of-order"

    apply(machine, reply, requester.other)
    assert machine.pending_request(request) is None
    assert machine.state is State.ACTIVE

    with pytest.raises(ProtocolError) as second_answer:
        apply(machine, reply, requester.other)
    assert second_answer.value.jingle_condition == "out-of-order"

    apply(machine, request, requester)  # answered, so a new request may follow
    assert machine.pending_request(request) is requester


@pytest.mark.parametrize("pair", _PAIRS, ids=_pair_id)
def test_an_answer_without_a_request_is_out_of_order(pair: tuple[Action, Action]) -> None:
    _, reply = pair
    for sender in Role:
        machine = session_at(State.PENDING, INITIATOR)
        with pytest.raises(ProtocolError) as caught:
            apply(machine, reply, sender)
        assert caught.value.condition == "unexpected-request"


def test_an_answer_only_closes_its_own_kind_of_request() -> None:
    machine = session_at(State.ACTIVE, INITIATOR)
    machine.send(Action.CONTENT_ADD)
    with pytest.raises(ProtocolError):
        machine.receive(Action.TRANSPORT_ACCEPT)
    assert machine.pending_request(Action.CONTENT_ADD) is INITIATOR
    machine.receive(Action.CONTENT_REJECT)
    assert machine.pending_request(Action.CONTENT_ADD) is None


@pytest.mark.parametrize("request_action", list(REPLIES), ids=lambda action: action.value)
@pytest.mark.parametrize("role", list(Role), ids=lambda role: f"as-{role.value}")
def test_a_second_request_from_the_same_party_while_pending_is_out_of_order(
    request_action: Action, role: Role
) -> None:
    for requester in Role:
        machine = session_at(State.PENDING, role)
        apply(machine, request_action, requester)
        with pytest.raises(ProtocolError, match="already pending") as caught:
            apply(machine, request_action, requester)
        assert caught.value.condition == "unexpected-request"
        assert caught.value.jingle_condition == "out-of-order"


@pytest.mark.parametrize("request_action", list(REPLIES), ids=lambda action: action.value)
def test_simultaneous_request_the_initiator_refuses_the_responders(
    request_action: Action,
) -> None:
    initiator = session_at(State.ACTIVE, INITIATOR)
    initiator.send(request_action)
    with pytest.raises(ProtocolError) as caught:
        initiator.receive(request_action)
    assert caught.value.condition == "conflict"
    assert caught.value.jingle_condition == "tie-break"
    assert initiator.pending_request(request_action) is INITIATOR
    # The responder then answers the initiator's request, which stays the one open.
    reply = sorted(REPLIES[request_action], key=str)[0]
    initiator.receive(reply)
    assert initiator.pending_request(request_action) is None


@pytest.mark.parametrize("request_action", list(REPLIES), ids=lambda action: action.value)
def test_simultaneous_request_the_responder_accepts_the_initiators(
    request_action: Action,
) -> None:
    responder = session_at(State.ACTIVE, RESPONDER)
    responder.send(request_action)
    responder.receive(request_action)  # the initiator's wins: no error
    assert responder.pending_request(request_action) is INITIATOR
    for reply in REPLIES[request_action]:
        with pytest.raises(ProtocolError):  # our own overruled request gets no answer
            responder.receive(reply)
    responder.send(sorted(REPLIES[request_action], key=str)[0])
    assert responder.pending_request(request_action) is None


def test_the_responder_cannot_send_a_request_while_the_initiators_is_open() -> None:
    responder = session_at(State.ACTIVE, RESPONDER)
    responder.receive(Action.TRANSPORT_REPLACE)
    with pytest.raises(ProtocolError) as caught:
        responder.send(Action.TRANSPORT_REPLACE)
    assert caught.value.condition == "conflict"
    assert responder.pending_request(Action.TRANSPORT_REPLACE) is INITIATOR


def test_ending_drops_open_requests() -> None:
    machine = session_at(State.ACTIVE, INITIATOR)
    machine.send(Action.TRANSPORT_REPLACE)
    machine.receive(Action.CONTENT_ADD)
    machine.send(Action.SESSION_TERMINATE)
    assert machine.pending_request(Action.TRANSPORT_REPLACE) is None
    assert machine.pending_request(Action.CONTENT_ADD) is None


def test_requests_are_legal_before_the_session_is_accepted() -> None:
    """XEP-0260 falls back to IBB with transport-replace while the session is still PENDING."""
    responder = session_at(State.PENDING, RESPONDER)
    responder.receive(Action.TRANSPORT_REPLACE)
    responder.send(Action.TRANSPORT_ACCEPT)
    responder.send(Action.SESSION_ACCEPT)
    assert responder.state is State.ACTIVE


def test_role_other() -> None:
    assert INITIATOR.other is RESPONDER
    assert RESPONDER.other is INITIATOR


@pytest.mark.parametrize(
    ("ours", "theirs", "lost"),
    [
        (
            ("b73sjjvkla37jfea", "romeo@montague.lit/orchard"),
            ("a73sjjvkla37jfea", "juliet@capulet.lit/balcony"),
            True,
        ),
        (
            ("a73sjjvkla37jfea", "romeo@montague.lit/orchard"),
            ("b73sjjvkla37jfea", "juliet@capulet.lit/balcony"),
            False,
        ),
        # i;octet: bytes, not case-insensitive: 'Z' (0x5a) sorts before 'a' (0x61).
        (("a", "romeo@montague.lit/orchard"), ("Z", "juliet@capulet.lit/balcony"), True),
        (("Z", "romeo@montague.lit/orchard"), ("a", "juliet@capulet.lit/balcony"), False),
        # A prefix sorts first.
        (("abcd", "a@b/c"), ("abc", "a@b/c"), True),
        (("abc", "a@b/c"), ("abcd", "a@b/c"), False),
        # Equal sids: the lower JID wins.
        (("same", "romeo@montague.lit/orchard"), ("same", "juliet@capulet.lit/balcony"), True),
        (("same", "juliet@capulet.lit/balcony"), ("same", "romeo@montague.lit/orchard"), False),
        # Non-ASCII compares by UTF-8 octets.
        (("sid-é", "a@b/c"), ("sid-z", "a@b/c"), True),
        # The very same initiate does not beat itself.
        (("same", "a@b/c"), ("same", "a@b/c"), False),
    ],
)
def test_tie_break_lower_sid_then_lower_jid_wins(
    ours: tuple[str, str], theirs: tuple[str, str], lost: bool
) -> None:
    assert tie_break_lost(ours[0], ours[1], theirs[0], theirs[1]) is lost


@pytest.mark.parametrize("state", [State.NEW, State.PENDING, State.ACTIVE])
def test_abandon_ends_without_a_terminate(state: State) -> None:
    """The peer vanished or never heard of us: ENDED, and nothing more is legal."""
    machine = session_at(state, INITIATOR)
    machine.abandon()
    assert machine.ended
    with pytest.raises(ProtocolError) as caught:
        machine.send(Action.SESSION_TERMINATE)
    assert caught.value.jingle_condition == "unknown-session"
