"""What a peer's later Jingle actions mean for a running file-transfer job."""

from __future__ import annotations

from ..errors import ProtocolError, Reason, TransferCancelled
from ..jingle import Action, JingleAction, Session
from ..jingle.stanza import Content, JingleReason
from .job import Job
from .stanza import NS_FT, parse_checksum

_CHECKSUM = f"{{{NS_FT}}}checksum"
_RECEIVED = f"{{{NS_FT}}}received"


def unsupported(what: str) -> ProtocolError:
    """The error for an action or payload file transfer does not understand (XEP-0166 §6.8)."""
    return ProtocolError(
        f"{what} is not supported for file transfer",
        condition="feature-not-implemented",
        jingle_condition="unsupported-info",
    )


async def dispatch(job: Job, event: JingleAction) -> None:
    """Apply ``event`` (anything but session-accept and session-info) to ``job``; raise
    ProtocolError to answer it with an IQ error."""
    action = event.action
    if action is Action.TRANSPORT_INFO:
        await job.transport_info(event.content(job.content.name).transport)
    elif action is Action.TRANSPORT_REPLACE:
        await job.replace_proposed(event.content(job.content.name).transport)
    elif action in (Action.TRANSPORT_ACCEPT, Action.TRANSPORT_REJECT):
        job.replace_answered(action, event.content(job.content.name).transport)
    elif action is Action.CONTENT_ADD:
        refuse_contents(job.session, event.contents)
    elif action is Action.CONTENT_REMOVE:
        job.fail(TransferCancelled("the peer removed the only content"))
    else:
        raise unsupported(action.value)


def refuse_contents(session: Session, contents: tuple[Content, ...]) -> None:
    """One file per session: answer a content-add (after its ack) with content-reject."""
    rejected = [Content(content.creator, content.name) for content in contents]
    reason = JingleReason(Reason.FAILED_APPLICATION, "one file per session").to_xml()
    session.plugin.spawn(session.send(Action.CONTENT_REJECT, rejected, extra=[reason]))


def session_info(job: Job | None, event: JingleAction) -> None:
    """``checksum`` feeds the receiver's verification; ``received`` needs nothing; an empty
    session-info is a ping. Anything else is ``unsupported-info``, job or not."""
    for payload in event.payloads:
        if payload.tag not in (_CHECKSUM, _RECEIVED):
            raise unsupported(f"session-info {payload.tag}")
    for payload in event.payloads:
        if payload.tag == _CHECKSUM:
            _, _, hashes = parse_checksum(payload)
            if job is not None:
                job.checksum(hashes)
