"""What a peer's later Jingle actions mean for a running file-transfer job."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from ..errors import ProtocolError, Reason
from ..jingle import Action
from ..jingle.stanza import Content, JingleReason, parse_contents
from .job import Job
from .stanza import NS_FT, parse_checksum, parse_description

_CHECKSUM = f"{{{NS_FT}}}checksum"
_RECEIVED = f"{{{NS_FT}}}received"


def unsupported(what: str) -> ProtocolError:
    """The error for an action or payload file transfer does not understand (XEP-0166 §6.8)."""
    return ProtocolError(
        f"{what} is not supported for file transfer",
        condition="feature-not-implemented",
        jingle_condition="unsupported-info",
    )


async def dispatch(job: Job, action: Action, jingle: ET.Element) -> None:
    """Apply ``action`` (anything but session-info) to ``job``; raise ProtocolError to
    answer it with an IQ error."""
    content = content_of(jingle, job)
    if action is Action.SESSION_ACCEPT:
        description = content.description
        job.on_session_accept(content, parse_description(description) if description else None)
    elif action is Action.TRANSPORT_INFO:
        await job.channel.handle_info(content.transport)
    elif action is Action.TRANSPORT_REPLACE:
        await job.channel.handle_replace(content.transport)
    elif action in (Action.TRANSPORT_ACCEPT, Action.TRANSPORT_REJECT):
        job.channel.handle_replace_answer(action, content.transport)
    elif action is Action.CONTENT_ADD:
        refuse_contents(job, parse_contents(jingle))
    elif action is Action.CONTENT_REMOVE:
        session = job.session
        session.plugin.spawn(session.terminate(Reason.CANCEL, "the only content was removed"))
    else:
        raise unsupported(action.value)


def refuse_contents(job: Job, contents: list[Content]) -> None:
    """One file per session: answer a content-add (after its ack) with content-reject."""
    rejected = [Content(content.creator, content.name) for content in contents]
    reason = JingleReason(Reason.FAILED_APPLICATION, "one file per session").to_xml()
    job.session.plugin.spawn(job.session.send(Action.CONTENT_REJECT, rejected, extra=[reason]))


def session_info(job: Job | None, jingle: ET.Element) -> None:
    """``checksum`` feeds the receiver's verification; ``received`` needs nothing; an empty
    session-info is a ping. Anything else is ``unsupported-info``, job or not."""
    for payload in jingle:
        if payload.tag not in (_CHECKSUM, _RECEIVED):
            raise unsupported(f"session-info {payload.tag}")
    for payload in jingle.iter(_CHECKSUM):
        _, _, hashes = parse_checksum(payload)
        if job is not None and not job.checksum.done():
            job.checksum.set_result(hashes)


def content_of(jingle: ET.Element, job: Job) -> Content:
    """The job's content in ``jingle``; peers get the name wrong (Conversations), so a lone
    content with another name is taken as ours."""
    contents = parse_contents(jingle)
    if not contents:
        raise ProtocolError("the action carries no content")
    matching = [content for content in contents if content.name == job.content.name]
    return matching[0] if matching else contents[0]
