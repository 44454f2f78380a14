"""The sans-I/O file-transfer protocol: every terminal path, and properties over any event order."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slixmpp_jet.errors import (
    LocalFileError,
    Reason,
    SecurityError,
    TransferCancelled,
    TransferDeclined,
    TransferError,
    TransportError,
)
from slixmpp_jet.file_transfer import events as ev
from slixmpp_jet.file_transfer.protocol import FileTransferProtocol, Phase, Timeouts
from slixmpp_jet.jingle.stanza import JingleReason

WEBRTC = "urn:xmpp:jingle:transports:webrtc-datachannel:1"
S5B = "urn:xmpp:jingle:transports:s5b:1"
IBB = "urn:xmpp:jingle:transports:ibb:1"
GOOD = {"sha-256": b"\x01" * 32}
BAD = {"sha-256": b"\x02" * 32}
ALL_TIMEOUTS = Timeouts(accept=300, idle=60, replace=30, checksum=10, verdict=60)


def machine(
    *,
    initiator: bool = True,
    sending: bool = True,
    encrypted: bool = False,
    expected: dict[str, bytes] | None = None,
    announced: bool = False,
    timeouts: Timeouts = ALL_TIMEOUTS,
) -> FileTransferProtocol:
    return FileTransferProtocol(
        initiator=initiator,
        sending=sending,
        transports=(S5B, IBB),
        current=S5B,
        timeouts=timeouts,
        encrypted=encrypted,
        expected_hashes=expected,
        checksum_announced=announced,
    )


def feed(protocol: FileTransferProtocol, *events: ev.Event) -> list[ev.Command]:
    commands: list[ev.Command] = []
    for event in events:
        commands += protocol.handle(event)
    return commands


def streaming(protocol: FileTransferProtocol) -> FileTransferProtocol:
    """Bring ``protocol`` to STREAMING by the shortest legal path."""
    feed(protocol, ev.Start(0.0))
    if protocol.initiator:
        feed(protocol, ev.SessionAccepted(0.0))
    feed(protocol, ev.TransportReady())
    assert protocol.phase is Phase.STREAMING
    return protocol


def of(commands: list[ev.Command], kind: type) -> list[ev.Command]:
    return [command for command in commands if isinstance(command, kind)]


def finish(commands: list[ev.Command]) -> ev.Finish:
    [done] = of(commands, ev.Finish)
    assert isinstance(done, ev.Finish)
    assert commands[-1] is done, "the outcome is always the last command"
    return done


# -- the happy paths ------------------------------------------------------------------------


def test_sender_initiator_offers_streams_sends_checksum_and_awaits_the_verdict() -> None:
    protocol = machine()
    assert feed(protocol, ev.Start(0.0)) == [ev.StartTimer(ev.Timer.ACCEPT, 300)]
    assert feed(protocol, ev.SessionAccepted(1.0)) == [
        ev.StopTimer(ev.Timer.ACCEPT),
        ev.OpenTransport(),
        ev.StartTimer(ev.Timer.IDLE, 60),
    ]
    assert feed(protocol, ev.TransportReady()) == [ev.StartStreaming()]
    assert feed(protocol, ev.BytesMoved(10, 2.0)) == []
    assert feed(protocol, ev.StreamFinished()) == [
        ev.StopTimer(ev.Timer.IDLE),
        ev.SendChecksum(),
        ev.StartTimer(ev.Timer.VERDICT, 60),
    ]
    commands = feed(protocol, ev.SessionEnded(JingleReason(Reason.SUCCESS)))
    assert commands == [
        ev.StopTimer(ev.Timer.VERDICT),
        ev.CloseTransport(),
        ev.Finish(hash_verified=True),
    ]
    assert protocol.ended


def test_an_encrypted_sender_sends_no_checksum_in_the_clear() -> None:
    protocol = streaming(machine(encrypted=True))
    assert feed(protocol, ev.StreamFinished()) == [
        ev.StopTimer(ev.Timer.IDLE),
        ev.StartTimer(ev.Timer.VERDICT, 60),
    ]
    done = finish(feed(protocol, ev.SessionEnded(JingleReason(Reason.SUCCESS))))
    assert done.error is None and done.hash_verified  # the receiver's tag check confirmed it


def test_the_receivers_success_while_we_still_finish_the_stream_is_the_verdict() -> None:
    protocol = streaming(machine(encrypted=True))
    done = finish(feed(protocol, ev.SessionEnded(JingleReason(Reason.SUCCESS))))
    assert done.error is None and done.hash_verified


def test_success_before_any_byte_is_no_success() -> None:
    protocol = machine()
    feed(protocol, ev.Start(0.0), ev.SessionAccepted(0.0))
    done = finish(feed(protocol, ev.SessionEnded(JingleReason(Reason.SUCCESS))))
    assert done.error is not None


def test_receiver_responder_accepts_verifies_commits_then_terminates_with_success() -> None:
    protocol = machine(initiator=False, sending=False, expected=GOOD)
    assert feed(protocol, ev.Start(0.0)) == [
        ev.SendAccept(),
        ev.OpenTransport(),
        ev.StartTimer(ev.Timer.IDLE, 60),
    ]
    feed(protocol, ev.TransportReady())
    assert feed(protocol, ev.StreamFinished(GOOD)) == [ev.StopTimer(ev.Timer.IDLE), ev.CommitFile()]
    assert feed(protocol, ev.FileCommitted()) == [
        ev.SendReceived(),
        ev.Terminate(Reason.SUCCESS),
        ev.CloseTransport(),
        ev.Finish(hash_verified=True),
    ]


def test_an_encrypted_file_is_kept_without_waiting_for_an_announced_checksum() -> None:
    """<hash-used/> announced (Libervia needs it in every offer), but the GCM tag already
    authenticated the file: no checksum is awaited, none is needed."""
    protocol = streaming(machine(initiator=False, sending=False, announced=True, encrypted=True))
    assert feed(protocol, ev.StreamFinished(GOOD)) == [ev.StopTimer(ev.Timer.IDLE), ev.CommitFile()]
    assert not protocol.hash_verified


def test_receiver_waits_for_an_announced_checksum() -> None:
    protocol = streaming(machine(initiator=False, sending=False, announced=True))
    assert feed(protocol, ev.StreamFinished(GOOD)) == [
        ev.StopTimer(ev.Timer.IDLE),
        ev.StartTimer(ev.Timer.CHECKSUM, 10),
    ]
    assert feed(protocol, ev.ChecksumReceived(GOOD)) == [
        ev.StopTimer(ev.Timer.CHECKSUM),
        ev.CommitFile(),
    ]
    assert protocol.hash_verified


def test_a_checksum_before_the_last_byte_is_kept_for_later() -> None:
    protocol = streaming(machine(initiator=False, sending=False, announced=True))
    assert feed(protocol, ev.ChecksumReceived(GOOD)) == []
    assert ev.CommitFile() in feed(protocol, ev.StreamFinished(GOOD))
    assert protocol.hash_verified


def test_no_checksum_in_time_commits_unverified() -> None:
    protocol = streaming(machine(initiator=False, sending=False, announced=True))
    feed(protocol, ev.StreamFinished(GOOD))
    assert feed(protocol, ev.TimerFired(ev.Timer.CHECKSUM, 20.0)) == [ev.CommitFile()]
    done = finish(feed(protocol, ev.FileCommitted()))
    assert done.error is None and not done.hash_verified


def test_a_request_learns_the_hashes_from_session_accept() -> None:
    protocol = machine(sending=False)
    feed(protocol, ev.Start(0.0), ev.SessionAccepted(0.0, hashes=BAD), ev.TransportReady())
    commands = feed(protocol, ev.StreamFinished(GOOD))
    assert finish(commands).error is not None
    assert ev.CommitFile() not in commands


# -- failures and their reasons ---------------------------------------------------------------


def test_plaintext_hash_mismatch_is_a_media_error_and_the_file_is_discarded() -> None:
    protocol = streaming(machine(initiator=False, sending=False, expected=BAD))
    commands = feed(protocol, ev.StreamFinished(GOOD))
    assert ev.CommitFile() not in commands
    assert ev.DiscardFile() in commands
    assert of(commands, ev.Terminate) == [ev.Terminate(Reason.MEDIA_ERROR, _text(commands))]
    error = finish(commands).error
    assert isinstance(error, TransferError) and error.reason is Reason.MEDIA_ERROR


def test_encrypted_hash_mismatch_still_commits_what_the_tag_authenticated() -> None:
    protocol = streaming(machine(initiator=False, sending=False, expected=BAD, encrypted=True))
    assert ev.CommitFile() in feed(protocol, ev.StreamFinished(GOOD))
    assert not protocol.hash_verified


def test_idle_timeout_ends_with_timeout_and_discards() -> None:
    protocol = streaming(machine(initiator=False, sending=False))
    commands = feed(protocol, ev.TimerFired(ev.Timer.IDLE, 60.0))
    assert of(commands, ev.Terminate)[0] == ev.Terminate(Reason.TIMEOUT, _text(commands))
    assert commands.index(ev.CloseTransport()) < commands.index(ev.DiscardFile())
    error = finish(commands).error
    assert error is not None and error.reason is Reason.TIMEOUT
    assert "60 seconds" in str(error)


def test_idle_timer_rearms_for_the_rest_when_bytes_moved_meanwhile() -> None:
    protocol = streaming(machine())
    feed(protocol, ev.BytesMoved(1, 45.0))
    assert feed(protocol, ev.TimerFired(ev.Timer.IDLE, 60.0)) == [
        ev.StartTimer(ev.Timer.IDLE, 45.0)
    ]
    assert not protocol.ended
    assert finish(feed(protocol, ev.TimerFired(ev.Timer.IDLE, 105.0))).error is not None


def test_idle_timer_also_bounds_a_transport_that_never_connects() -> None:
    protocol = machine(initiator=False, sending=True)
    feed(protocol, ev.Start(0.0))
    assert protocol.phase is Phase.CONNECTING
    error = finish(feed(protocol, ev.TimerFired(ev.Timer.IDLE, 60.0))).error
    assert error is not None and error.reason is Reason.TIMEOUT


def test_accept_timeout() -> None:
    protocol = machine()
    feed(protocol, ev.Start(0.0))
    commands = feed(protocol, ev.TimerFired(ev.Timer.ACCEPT, 300.0))
    assert of(commands, ev.Terminate) == [ev.Terminate(Reason.TIMEOUT, _text(commands))]


def test_without_accept_timeout_the_initiator_waits_for_a_person() -> None:
    protocol = machine(timeouts=Timeouts(accept=None))
    assert feed(protocol, ev.Start(0.0)) == []
    assert protocol.phase is Phase.AWAITING_ACCEPT


def test_sender_without_verdict_times_out() -> None:
    protocol = streaming(machine())
    feed(protocol, ev.StreamFinished())
    error = finish(feed(protocol, ev.TimerFired(ev.Timer.VERDICT, 100.0))).error
    assert error is not None and error.reason is Reason.TIMEOUT
    assert "did not confirm" in str(error)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (LocalFileError("could not write: No space left on device"), Reason.FAILED_APPLICATION),
        (SecurityError("the file failed the AES-GCM authentication check"), Reason.SECURITY_ERROR),
        (TransportError("the stream ended after 3 of 10 bytes"), Reason.FAILED_TRANSPORT),
    ],
)
def test_a_local_failure_terminates_with_its_reason_and_reports_it(error, reason) -> None:
    protocol = streaming(machine(initiator=False, sending=False))
    commands = feed(protocol, ev.Failed(error))
    assert of(commands, ev.Terminate) == [ev.Terminate(reason, str(error))]
    assert ev.DiscardFile() in commands
    assert finish(commands).error is error


def test_a_failed_commit_is_reported_and_the_file_discarded() -> None:
    protocol = streaming(machine(initiator=False, sending=False))
    feed(protocol, ev.StreamFinished(GOOD))
    commands = feed(protocol, ev.Failed(LocalFileError("could not keep x: EIO")))
    assert ev.Terminate(Reason.FAILED_APPLICATION, "could not keep x: EIO") in commands
    assert ev.DiscardFile() in commands


def test_local_cancel() -> None:
    protocol = streaming(machine())
    commands = feed(protocol, ev.LocalCancel())
    assert ev.Terminate(Reason.CANCEL, "cancelled") in commands
    assert isinstance(finish(commands).error, TransferCancelled)


@pytest.mark.parametrize(
    ("reason", "kind"),
    [(Reason.DECLINE, TransferDeclined), (Reason.CANCEL, TransferCancelled)],
)
def test_the_peers_end_is_reported_without_a_terminate_of_ours(reason, kind) -> None:
    protocol = machine()
    feed(protocol, ev.Start(0.0))
    commands = feed(protocol, ev.SessionEnded(JingleReason(reason, "no thanks")))
    assert of(commands, ev.Terminate) == []
    error = finish(commands).error
    assert isinstance(error, kind) and "no thanks" in str(error)


def test_the_peer_ending_during_the_commit_still_completes_the_transfer() -> None:
    protocol = streaming(machine(initiator=False, sending=False))
    feed(protocol, ev.StreamFinished(GOOD))
    assert feed(protocol, ev.SessionEnded(JingleReason(Reason.CANCEL))) == []
    assert feed(protocol, ev.LocalCancel()) == []
    commands = feed(protocol, ev.FileCommitted())
    assert of(commands, ev.Terminate) == [] and ev.SendReceived() not in commands
    assert finish(commands).error is None


# -- transport fallback ----------------------------------------------------------------------


def test_initiator_falls_back_to_the_next_transport() -> None:
    protocol = machine()
    feed(protocol, ev.Start(0.0), ev.SessionAccepted(0.0))
    assert feed(protocol, ev.TransportFailed(TransportError("no candidate"))) == [
        ev.ReplaceTransport(IBB),
        ev.StartTimer(ev.Timer.REPLACE, 30),
    ]
    assert feed(protocol, ev.ReplaceAnswered(True)) == [
        ev.StopTimer(ev.Timer.REPLACE),
        ev.OpenTransport(),
    ]
    assert protocol.current == IBB
    commands = feed(protocol, ev.TransportFailed(TransportError("IBB refused")))
    assert of(commands, ev.Terminate) == [ev.Terminate(Reason.FAILED_TRANSPORT, "IBB refused")]


def three_transports(*, initiator: bool) -> FileTransferProtocol:
    return FileTransferProtocol(
        initiator=initiator,
        sending=True,
        transports=(WEBRTC, S5B, IBB),
        current=WEBRTC,
        timeouts=ALL_TIMEOUTS,
    )


def test_initiator_falls_back_one_transport_at_a_time_in_order() -> None:
    protocol = three_transports(initiator=True)
    feed(protocol, ev.Start(0.0), ev.SessionAccepted(0.0))
    for failed, proposed in ((WEBRTC, S5B), (S5B, IBB)):
        assert protocol.current == failed
        commands = feed(protocol, ev.TransportFailed(TransportError(f"{failed} failed")))
        assert commands == [ev.ReplaceTransport(proposed), ev.StartTimer(ev.Timer.REPLACE, 30)]
        assert protocol.phase is Phase.REPLACING
        assert feed(protocol, ev.ReplaceAnswered(True)) == [
            ev.StopTimer(ev.Timer.REPLACE),
            ev.OpenTransport(),
        ]
        assert protocol.current == proposed
    assert feed(protocol, ev.TransportReady()) == [ev.StartStreaming()]
    assert protocol.phase is Phase.STREAMING


def test_initiator_ends_after_the_last_of_three_transports_fails() -> None:
    protocol = three_transports(initiator=True)
    feed(protocol, ev.Start(0.0), ev.SessionAccepted(0.0))
    for _ in range(2):
        feed(protocol, ev.TransportFailed(TransportError("x")), ev.ReplaceAnswered(True))
    assert protocol.current == IBB
    commands = feed(protocol, ev.TransportFailed(TransportError("IBB refused")))
    assert of(commands, ev.ReplaceTransport) == []
    assert of(commands, ev.Terminate) == [ev.Terminate(Reason.FAILED_TRANSPORT, "IBB refused")]
    assert finish(commands).error is not None


def test_responder_takes_two_replacements_in_a_row() -> None:
    protocol = three_transports(initiator=False)
    feed(protocol, ev.Start(0.0))
    for replacement in (S5B, IBB):
        assert feed(protocol, ev.TransportFailed(TransportError("x"))) == [
            ev.StartTimer(ev.Timer.REPLACE, 30)
        ]
        assert feed(protocol, ev.ReplaceOffered(replacement)) == [
            ev.StopTimer(ev.Timer.REPLACE),
            ev.AnswerReplace(accept=True),
            ev.OpenTransport(),
        ]
        assert protocol.current == replacement
    assert feed(protocol, ev.TransportReady()) == [ev.StartStreaming()]


def test_responder_takes_a_replacement_before_its_own_attempt_failed() -> None:
    """The initiator may give up on the data channel first (its timeout ran out sooner)."""
    protocol = three_transports(initiator=False)
    feed(protocol, ev.Start(0.0))
    assert feed(protocol, ev.ReplaceOffered(S5B)) == [
        ev.AnswerReplace(accept=True),
        ev.OpenTransport(),
    ]
    assert protocol.current == S5B
    assert protocol.phase is Phase.CONNECTING


def test_a_rejected_fallback_fails_the_transport() -> None:
    protocol = machine()
    feed(protocol, ev.Start(0.0), ev.SessionAccepted(0.0), ev.TransportFailed(TransportError("x")))
    commands = feed(protocol, ev.ReplaceAnswered(False))
    assert of(commands, ev.Terminate)[0].reason is Reason.FAILED_TRANSPORT  # type: ignore[union-attr]


def test_responder_waits_for_the_initiators_replacement() -> None:
    protocol = machine(initiator=False)
    feed(protocol, ev.Start(0.0))
    assert feed(protocol, ev.TransportFailed(TransportError("x"))) == [
        ev.StartTimer(ev.Timer.REPLACE, 30)
    ]
    assert feed(protocol, ev.ReplaceOffered(IBB)) == [
        ev.StopTimer(ev.Timer.REPLACE),
        ev.AnswerReplace(accept=True),
        ev.OpenTransport(),
    ]


def test_responder_gives_up_when_no_replacement_comes() -> None:
    protocol = machine(initiator=False)
    feed(protocol, ev.Start(0.0), ev.TransportFailed(TransportError("x")))
    commands = feed(protocol, ev.TimerFired(ev.Timer.REPLACE, 30.0))
    assert of(commands, ev.Terminate)[0].reason is Reason.FAILED_TRANSPORT  # type: ignore[union-attr]


@pytest.mark.parametrize("namespace", ["urn:example:unknown", ""])
def test_an_unknown_replacement_is_rejected(namespace) -> None:
    protocol = machine(initiator=False)
    feed(protocol, ev.Start(0.0))
    assert feed(protocol, ev.ReplaceOffered(namespace)) == [ev.AnswerReplace(accept=False)]
    assert protocol.phase is Phase.CONNECTING


def test_a_replacement_while_streaming_is_rejected() -> None:
    protocol = streaming(machine(initiator=False))
    assert feed(protocol, ev.ReplaceOffered(IBB)) == [ev.AnswerReplace(accept=False)]
    assert protocol.phase is Phase.STREAMING


def test_everything_after_the_end_is_ignored() -> None:
    protocol = streaming(machine())
    feed(protocol, ev.LocalCancel())
    for event in EVERY_KIND:
        assert protocol.handle(event) == []


def _text(commands: list[ev.Command]) -> str | None:
    return next(c.text for c in commands if isinstance(c, ev.Terminate))


# -- properties over any event sequence --------------------------------------------------------

EVERY_KIND: list[ev.Event] = [
    ev.Start(0.0),
    ev.SessionAccepted(0.0),
    ev.TransportReady(),
    ev.TransportFailed(TransportError("x")),
    ev.ReplaceOffered(IBB),
    ev.ReplaceAnswered(True),
    ev.BytesMoved(1, 0.0),
    ev.StreamFinished(GOOD),
    ev.ChecksumReceived(GOOD),
    ev.FileCommitted(),
    ev.TimerFired(ev.Timer.IDLE, 0.0),
    ev.LocalCancel(),
    ev.Failed(LocalFileError("disk")),
    ev.SessionEnded(JingleReason(Reason.SUCCESS)),
]

_now = st.floats(min_value=0, max_value=1000, allow_nan=False)
_hashes = st.sampled_from([GOOD, BAD, {}])
events = st.one_of(
    st.builds(ev.Start, _now),
    st.builds(ev.SessionAccepted, _now, _hashes, st.booleans()),
    st.just(ev.TransportReady()),
    st.builds(ev.TransportFailed, st.just(TransportError("no route"))),
    st.builds(ev.ReplaceOffered, st.sampled_from([S5B, IBB, "urn:example:x"])),
    st.builds(ev.ReplaceAnswered, st.booleans()),
    st.builds(ev.BytesMoved, st.integers(1, 1 << 20), _now),
    st.builds(ev.StreamFinished, _hashes),
    st.builds(ev.ChecksumReceived, _hashes),
    st.just(ev.FileCommitted()),
    st.builds(ev.TimerFired, st.sampled_from(list(ev.Timer)), _now),
    st.just(ev.LocalCancel()),
    st.builds(ev.Failed, st.sampled_from([LocalFileError("x"), SecurityError("y")])),
    st.builds(
        ev.SessionEnded,
        st.builds(JingleReason, st.sampled_from(list(Reason))),
        st.booleans(),
    ),
)


@dataclass
class Record:
    """What a driver would have seen: every command, running timers, and rule violations."""

    encrypted: bool
    commands: list[ev.Command] = field(default_factory=list)
    timers: set[ev.Timer] = field(default_factory=set)
    digests: dict[str, bytes] | None = None
    committed: bool = False
    peer_ended: bool = False
    violations: list[str] = field(default_factory=list)

    def take(self, protocol: FileTransferProtocol, commands: list[ev.Command]) -> None:
        self.commands += commands
        for command in commands:
            if isinstance(command, ev.StartTimer):
                self.timers.add(command.timer)
            elif isinstance(command, ev.StopTimer):
                self.timers.discard(command.timer)
            elif isinstance(command, ev.Terminate) and self.peer_ended:
                self.violations.append("terminate after the peer ended the session")
            elif isinstance(command, ev.CommitFile):
                self.check_commit(protocol)

    def check_commit(self, protocol: FileTransferProtocol) -> None:
        if self.digests is None:
            self.violations.append("commit before the stream finished")
            return
        expected = protocol.expected_hashes
        comparable = [algo for algo in expected if algo in self.digests]
        mismatch = any(self.digests[algo] != expected[algo] for algo in comparable)
        if mismatch and not self.encrypted:
            self.violations.append("plaintext committed with a mismatching hash")


def run(protocol: FileTransferProtocol, sequence: list[ev.Event]) -> Record:
    record = Record(encrypted=protocol.encrypted)
    for event in sequence:
        before = protocol.phase
        if isinstance(event, ev.StreamFinished) and before is Phase.STREAMING:
            record.digests = dict(event.digests)
        if isinstance(event, ev.SessionEnded) and before is not Phase.ENDED:
            record.peer_ended = True
        if isinstance(event, ev.TimerFired):
            record.timers.discard(event.timer)
        record.take(protocol, protocol.handle(event))
        if isinstance(event, ev.FileCommitted) and before is Phase.COMMITTING:
            record.committed = True
        if protocol.phase not in (Phase.NEW, Phase.COMMITTING, Phase.ENDED) and not record.timers:
            record.violations.append(f"{protocol.phase.value} with no timer running")
    return record


def let_time_run(protocol: FileTransferProtocol, record: Record) -> None:
    """Fire whichever timer is running, later and later: every live session must end."""
    now = 0.0
    for _ in range(50):
        if protocol.ended or not record.timers:
            return
        now += 10_000.0
        timer = min(record.timers, key=lambda t: t.value)
        record.timers.discard(timer)
        record.take(protocol, protocol.handle(ev.TimerFired(timer, now)))


_under_way = [ev.Start(0.0), ev.SessionAccepted(0.0), ev.TransportReady()]
prefixes = st.sampled_from([[], _under_way[:1], _under_way, [*_under_way, ev.StreamFinished(GOOD)]])
"""Where a sequence starts: from nothing, or already streaming, or with the bytes all in."""
sequences = st.builds(lambda head, tail: [*head, *tail], prefixes, st.lists(events, max_size=25))
roles = st.sampled_from([(True, True), (True, False), (False, True), (False, False)])


@settings(max_examples=1000, deadline=None)
@given(roles, st.booleans(), _hashes, st.booleans(), sequences)
def test_any_event_sequence_keeps_the_rules(role, encrypted, expected, announced, sequence) -> None:
    initiator, sending = role
    protocol = machine(
        initiator=initiator,
        sending=sending,
        encrypted=encrypted,
        expected=expected,
        announced=announced,
    )
    record = run(protocol, sequence)
    assert record.violations == []
    commands = record.commands
    finishes = of(commands, ev.Finish)
    assert len(of(commands, ev.Terminate)) <= 1, "session-terminate is sent at most once"
    assert len(finishes) <= 1, "one outcome"
    if not finishes:
        assert not protocol.ended
        return
    done = finishes[0]
    assert isinstance(done, ev.Finish)
    assert protocol.ended and commands[-1] is done, "nothing after the outcome"
    assert ev.CloseTransport() in commands, "every end releases the transport"
    if not sending and done.error is None:
        assert record.committed, "success only once the file is committed"
    if not sending and done.error is not None:
        assert ev.DiscardFile() in commands, "a failed receive leaves no file"


@settings(max_examples=500, deadline=None)
@given(roles, sequences)
def test_every_session_ends_once_time_runs_on(role, sequence) -> None:
    initiator, sending = role
    protocol = machine(initiator=initiator, sending=sending)
    record = run(protocol, [ev.Start(0.0), *sequence])
    if protocol.phase is Phase.COMMITTING:  # a commit is local: it reports back, either way
        record.take(protocol, protocol.handle(ev.FileCommitted()))
    let_time_run(protocol, record)
    assert protocol.ended, f"stuck in {protocol.phase.value}"
    assert record.violations == []
    assert len(of(record.commands, ev.Finish)) == 1
    assert len(of(record.commands, ev.Terminate)) <= 1
