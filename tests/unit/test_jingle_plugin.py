"""The ``xep_0166`` plugin on slixmpp's scripted stream: routing, acks, Jingle errors, disco."""

from __future__ import annotations

import asyncio
from xml.etree import ElementTree as ET

import pytest
from slixmpp.test import SlixTest

import slixmpp_jet.jingle  # noqa: F401  (registers xep_0166)
from slixmpp_jet.errors import ProtocolError, Reason
from slixmpp_jet.jingle import Action, JingleAction, Role, Session, State
from slixmpp_jet.jingle.plugin import XEP_0166
from slixmpp_jet.jingle.stanza import NS, NS_ERRORS, Content, JingleReason, parse_reason

ME = "juliet@capulet.lit/balcony"
PEER = "romeo@montague.lit/orchard"
SID = "a73sjjvkla37jfea"
STUB_APP = "urn:xmpp:jingle:apps:stub:0"
STUB_TRANSPORT = "urn:xmpp:jingle:transports:stub:0"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"

STUB_CONTENT = f"""
<content creator='initiator' name='this-is-a-stub'>
  <description xmlns='{STUB_APP}'/>
  <transport xmlns='{STUB_TRANSPORT}'/>
</content>"""


def jingle_iq(
    action: str, body: str = "", sid: str = SID, frm: str = PEER, iq_id: str = "j1"
) -> str:
    return (
        f"<iq type='set' id='{iq_id}' from='{frm}' to='{ME}'>"
        f"<jingle xmlns='{NS}' action='{action}' sid='{sid}'>{body}</jingle></iq>"
    )


def initiate_iq(
    sid: str = SID, frm: str = PEER, body: str = STUB_CONTENT, iq_id: str = "i1"
) -> str:
    return (
        f"<iq type='set' id='{iq_id}' from='{frm}' to='{ME}'>"
        f"<jingle xmlns='{NS}' action='session-initiate' initiator='{frm}' sid='{sid}'>"
        f"{body}</jingle></iq>"
    )


def stub_content() -> Content:
    return Content(
        Role.INITIATOR,
        "this-is-a-stub",
        description=ET.Element(f"{{{STUB_APP}}}description"),
        transport=ET.Element(f"{{{STUB_TRANSPORT}}}transport"),
    )


class RecordingApplication:
    """A test double for a Jingle application: records what the plugin hands it."""

    def __init__(self) -> None:
        self.initiated: list[tuple[Session, tuple[Content, ...]]] = []
        self.actions: list[tuple[Action, JingleAction]] = []
        self.failure: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def handle_initiate(self, session: Session, initiate: JingleAction) -> None:
        self.initiated.append((session, initiate.contents))

    async def handle_action(self, session: Session, event: JingleAction) -> None:
        self.actions.append((event.action, event))
        if self.gate is not None:
            await self.gate.wait()
        if self.failure is not None:
            raise self.failure


class TestJinglePlugin(SlixTest):
    def setUp(self) -> None:
        self.stream_start(jid=ME, plugins=["xep_0030", "xep_0166"])
        self.plugin: XEP_0166 = self.xmpp.plugin["xep_0166"]
        self.app = RecordingApplication()
        self.plugin.register_application(STUB_APP, self.app)

    def tearDown(self) -> None:
        async def stream_ends() -> None:  # every session ends with it, and its worker stops
            self.xmpp.event("session_end")

        self.run_coro(stream_ends())
        self.wait_()
        super().tearDown()

    # --- helpers ---------------------------------------------------------------------------

    def feed(self, xml: str) -> None:
        """Deliver ``xml`` from the server inside the event loop, as a real socket does."""

        async def deliver() -> None:
            self.xmpp.data_received(xml)

        self.run_coro(deliver())
        self.wait_()

    def sent(self) -> ET.Element:
        self.wait_for_send_queue()
        raw = self.xmpp.socket.next_sent(0.5)
        assert raw is not None, "nothing was sent"
        xml = self.parse_xml(raw)
        self.fix_namespaces(xml)
        return xml

    def assert_nothing_sent(self) -> None:
        self.wait_()
        self.send(None)

    def assert_result(self, iq_id: str) -> None:
        iq = self.sent()
        assert (iq.get("type"), iq.get("id"), iq.get("to")) == ("result", iq_id, PEER), iq.attrib

    def assert_error(self, iq_id: str, condition: str, jingle_condition: str | None) -> None:
        iq = self.sent()
        assert (iq.get("type"), iq.get("id")) == ("error", iq_id), ET.tostring(iq)
        error = iq.find("{jabber:client}error")
        assert error is not None
        assert error.find(f"{{{STANZAS}}}{condition}") is not None, ET.tostring(error)
        jingle_errors = [child.tag for child in error if child.tag.startswith(f"{{{NS_ERRORS}}}")]
        expected = [] if jingle_condition is None else [f"{{{NS_ERRORS}}}{jingle_condition}"]
        assert jingle_errors == expected

    def sent_jingle(self, action: Action) -> tuple[ET.Element, ET.Element]:
        iq = self.sent()
        jingle = iq.find(f"{{{NS}}}jingle")
        assert iq.get("type") == "set" and jingle is not None, ET.tostring(iq)
        assert jingle.get("action") == action.value
        return iq, jingle

    def incoming_session(self, sid: str = SID, frm: str = PEER) -> Session:
        self.feed(initiate_iq(sid=sid, frm=frm))
        iq = self.sent()
        assert (iq.get("type"), iq.get("id")) == ("result", "i1")
        session, _ = self.app.initiated[-1]
        return session

    def outgoing_session(self) -> Session:
        async def start() -> tuple[Session, asyncio.Future[None]]:
            session = self.plugin.new_session(PEER, self.app)
            return session, asyncio.ensure_future(
                session.send(Action.SESSION_INITIATE, [stub_content()])
            )

        session, sending = self.run_coro(start())
        iq, jingle = self.sent_jingle(Action.SESSION_INITIATE)
        assert (iq.get("to"), jingle.get("initiator"), jingle.get("sid")) == (PEER, ME, session.sid)
        self.feed(f"<iq type='result' id='{iq.get('id')}' from='{PEER}' to='{ME}'/>")
        assert sending.done() and sending.exception() is None
        return session

    # --- incoming sessions -----------------------------------------------------------------

    def test_session_initiate_is_acked_and_reaches_the_application(self) -> None:
        self.feed(
            initiate_iq(body=STUB_CONTENT).replace(f"initiator='{PEER}'", "initiator='x@y/z'")
        )
        self.assert_result("i1")
        [(session, contents)] = self.app.initiated
        assert (session.sid, session.peer, session.role) == (SID, PEER, Role.RESPONDER)
        assert (session.initiator, session.responder) == (PEER, ME)  # 'from', not the attribute
        assert session.state.state is State.PENDING
        assert contents == (Content(Role.INITIATOR, "this-is-a-stub"),)
        assert contents[0].transport is not None
        assert contents[0].transport.tag == f"{{{STUB_TRANSPORT}}}transport"

    def test_unknown_sid_is_unknown_session(self) -> None:
        self.feed(jingle_iq("transport-info", sid="nope"))
        self.assert_error("j1", "item-not-found", "unknown-session")

    def test_a_live_sid_from_another_jid_is_unknown_session(self) -> None:
        self.incoming_session()
        for intruder in ("romeo@montague.lit/garden", "tybalt@capulet.lit/street"):
            self.feed(jingle_iq("session-terminate", frm=intruder, iq_id="x"))
            iq = self.sent()
            assert iq.get("to") == intruder
            error = iq.find("{jabber:client}error")
            assert error is not None and error.find(f"{{{NS_ERRORS}}}unknown-session") is not None
        assert self.app.actions == []
        assert not self.app.initiated[0][0].ended.done()

    def test_an_unknown_action_is_a_bad_request(self) -> None:
        self.incoming_session()
        self.feed(jingle_iq("session-dance"))
        self.assert_error("j1", "bad-request", None)
        self.feed(jingle_iq("session-dance", sid="nope"))
        self.assert_error("j1", "bad-request", None)

    def test_a_jingle_without_sid_or_as_iq_get_is_a_bad_request(self) -> None:
        self.feed(jingle_iq("transport-info", sid=""))
        self.assert_error("j1", "bad-request", None)
        self.feed(jingle_iq("transport-info").replace("type='set'", "type='get'"))
        self.assert_error("j1", "bad-request", None)

    def test_a_malformed_session_initiate_is_a_bad_request_and_no_session(self) -> None:
        bodies = [
            "",
            f"<content creator='initiator' name='a'><description xmlns='{STUB_APP}'/></content>",
            STUB_CONTENT + STUB_CONTENT,
            STUB_CONTENT.replace("name='this-is-a-stub'", "name='s' disposition='early-session'"),
        ]
        for body in bodies:
            self.feed(initiate_iq(body=body))
            self.assert_error("i1", "bad-request", None)
        assert self.app.initiated == []
        self.feed(jingle_iq("transport-info"))
        self.assert_error("j1", "item-not-found", "unknown-session")

    def test_a_second_session_initiate_is_out_of_order(self) -> None:
        self.incoming_session()
        self.feed(initiate_iq())
        self.assert_error("i1", "unexpected-request", "out-of-order")
        assert len(self.app.initiated) == 1

    def test_no_application_for_the_description_is_acked_then_terminated(self) -> None:
        self.feed(initiate_iq(body=STUB_CONTENT.replace(STUB_APP, "urn:example:unknown:0")))
        self.assert_result("i1")
        iq, jingle = self.sent_jingle(Action.SESSION_TERMINATE)
        assert (iq.get("to"), jingle.get("sid")) == (PEER, SID)
        reason = parse_reason(jingle)
        assert reason is not None and reason.condition is Reason.UNSUPPORTED_APPLICATIONS
        self.feed(f"<iq type='result' id='{iq.get('id')}' from='{PEER}' to='{ME}'/>")
        assert self.app.initiated == []
        self.feed(jingle_iq("transport-info"))
        self.assert_error("j1", "item-not-found", "unknown-session")

    def test_session_terminate_is_acked_and_ends_the_session(self) -> None:
        session = self.incoming_session()
        reason = "<reason><success/><text>Sorry, gotta go!</text></reason>"
        self.feed(jingle_iq("session-terminate", reason))
        self.assert_result("j1")
        assert session.ended.done()
        assert session.ended.result() == JingleReason(Reason.SUCCESS, "Sorry, gotta go!")
        assert session.ended_by_peer and session.state.ended
        self.feed(jingle_iq("transport-info", iq_id="j2"))
        self.assert_error("j2", "item-not-found", "unknown-session")
        assert self.app.actions == []

    def test_actions_reach_the_application_and_are_acked_in_order(self) -> None:
        self.incoming_session()
        self.feed(jingle_iq("transport-info", iq_id="a"))
        self.feed(jingle_iq("session-info", iq_id="b"))
        self.assert_result("a")
        self.assert_result("b")
        assert [action for action, _ in self.app.actions] == [
            Action.TRANSPORT_INFO,
            Action.SESSION_INFO,
        ]
        assert self.app.actions[0][1].sid == SID

    def test_an_application_protocol_error_becomes_the_iq_error(self) -> None:
        self.incoming_session()
        self.app.failure = ProtocolError(
            "no idea", condition="feature-not-implemented", jingle_condition="unsupported-info"
        )
        ringing = "<ringing xmlns='urn:xmpp:jingle:apps:rtp:1:info'/>"
        self.feed(jingle_iq("session-info", ringing))
        self.assert_error("j1", "feature-not-implemented", "unsupported-info")

    @pytest.mark.allow_error_logs  # the crash is logged with its traceback, on purpose
    def test_an_application_crash_is_an_internal_error_and_the_session_goes_on(self) -> None:
        session = self.incoming_session()
        self.app.failure = RuntimeError("bug")
        self.feed(jingle_iq("transport-info"))
        self.assert_error("j1", "internal-server-error", None)
        self.app.failure = None
        self.feed(jingle_iq("transport-info", iq_id="j2"))
        self.assert_result("j2")
        assert not session.ended.done()

    def test_ending_answers_the_iqs_still_waiting_for_the_application(self) -> None:
        session = self.incoming_session()
        self.app.gate = asyncio.Event()
        self.feed(jingle_iq("transport-info", iq_id="busy"))
        self.feed(jingle_iq("transport-info", iq_id="queued"))
        self.feed(jingle_iq("session-terminate", "<reason><cancel/></reason>", iq_id="end"))
        self.assert_result("end")
        answered = {self.sent().get("id"), self.sent().get("id")}
        assert answered == {"queued", "busy"}
        assert session.ended.result().condition is Reason.CANCEL
        self.assert_nothing_sent()

    def test_unavailable_presence_ends_that_peers_sessions_with_gone(self) -> None:
        session = self.incoming_session()
        elsewhere = self.incoming_session(sid="other", frm="romeo@montague.lit/garden")
        self.feed(f"<presence type='unavailable' from='{PEER}' to='{ME}'/>")
        assert session.ended.done() and session.ended.result().condition is Reason.GONE
        assert session.ended_by_peer and session.state.ended
        assert not elsewhere.ended.done()
        self.run_coro(session.terminate(Reason.SUCCESS))  # already over: nothing to send
        self.assert_nothing_sent()
        self.feed(jingle_iq("transport-info"))
        self.assert_error("j1", "item-not-found", "unknown-session")

    # --- outgoing sessions -----------------------------------------------------------------

    def test_a_second_session_accept_is_out_of_order(self) -> None:
        session = self.outgoing_session()
        self.feed(jingle_iq("session-accept", STUB_CONTENT, sid=session.sid, iq_id="a1"))
        self.assert_result("a1")
        assert session.state.state is State.ACTIVE
        self.feed(jingle_iq("session-accept", STUB_CONTENT, sid=session.sid, iq_id="a2"))
        self.assert_error("a2", "unexpected-request", "out-of-order")
        assert [action for action, _ in self.app.actions] == [Action.SESSION_ACCEPT]

    def test_our_session_accept_names_us_as_responder(self) -> None:
        session = self.incoming_session()
        sending = self.xmpp.wrap(session.send(Action.SESSION_ACCEPT, [stub_content()]))
        iq, jingle = self.sent_jingle(Action.SESSION_ACCEPT)
        assert (jingle.get("responder"), jingle.get("sid"), iq.get("to")) == (ME, SID, PEER)
        assert jingle.find(f"{{{NS}}}content/{{{STUB_APP}}}description") is not None
        self.feed(f"<iq type='result' id='{iq.get('id')}' from='{PEER}' to='{ME}'/>")
        assert sending.done() and session.state.state is State.ACTIVE

    def test_terminate_sends_the_reason_and_ends_the_session(self) -> None:
        session = self.outgoing_session()
        ending = self.xmpp.wrap(session.terminate(Reason.DECLINE, "not now"))
        self.wait_()
        assert session.ended.result() == JingleReason(Reason.DECLINE, "not now")
        assert not session.ended_by_peer
        iq, jingle = self.sent_jingle(Action.SESSION_TERMINATE)
        assert parse_reason(jingle) == JingleReason(Reason.DECLINE, "not now")
        self.feed(jingle_iq("transport-info", sid=session.sid))
        self.assert_error("j1", "item-not-found", "unknown-session")
        self.feed(f"<iq type='result' id='{iq.get('id')}' from='{PEER}' to='{ME}'/>")
        assert ending.done() and ending.exception() is None

    def test_terminate_before_session_initiate_sends_nothing(self) -> None:
        async def start_and_give_up() -> Session:
            session = self.plugin.new_session(PEER, self.app)
            await session.terminate(Reason.CANCEL)
            return session

        session = self.run_coro(start_and_give_up())
        self.assert_nothing_sent()
        assert session.ended.result().condition is Reason.CANCEL
        assert session.state.ended

    def test_same_sid_tie_break_the_lower_jid_wins(self) -> None:
        ours = self.outgoing_session()
        # 'juliet@…' < 'romeo@…': ours wins and romeo's duplicate gets conflict + tie-break.
        self.feed(initiate_iq(sid=ours.sid))
        self.assert_error("i1", "conflict", "tie-break")
        assert not ours.ended.done() and self.app.initiated == []

    def test_same_sid_tie_break_lost_accepts_the_peers_session(self) -> None:
        lower = "benvolio@montague.lit/street"

        async def start() -> Session:
            return self.plugin.new_session(lower, self.app)

        ours = self.run_coro(start())
        sending = self.xmpp.wrap(ours.send(Action.SESSION_INITIATE, [stub_content()]))
        self.sent_jingle(Action.SESSION_INITIATE)
        self.feed(initiate_iq(sid=ours.sid, frm=lower))
        iq = self.sent()
        assert (iq.get("type"), iq.get("id"), iq.get("to")) == ("result", "i1", lower)
        assert ours.ended.result().condition is Reason.ALTERNATIVE_SESSION
        [(theirs, _)] = self.app.initiated
        assert (theirs.sid, theirs.peer, theirs.role) == (ours.sid, lower, Role.RESPONDER)
        sending.cancel()

    # --- service discovery -----------------------------------------------------------------

    def test_disco_info_advertises_jingle(self) -> None:
        self.feed(
            f"<iq type='get' id='d1' from='{PEER}' to='{ME}'>"
            "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        )
        iq = self.sent()
        features = {
            feature.get("var")
            for feature in iq.iter("{http://jabber.org/protocol/disco#info}feature")
        }
        assert iq.get("type") == "result" and NS in features
