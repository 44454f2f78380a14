"""Our side against a data-channel sender, and a receiver, that behave as Conversations does.

The peer is written here by hand (raw Jingle stanzas and aiortc directly, none of our
transport code), after what Conversations' source does (``transports/webrtc/WIRE.md``): the
SDP mid as the content name, no candidates in session-initiate but one transport-info per
candidate right after it, the inner transport of a transport-info with only ufrag and pwd, its
own channel ``test``/``xmpp-jingle``, 4 KiB messages, and never an end-of-file: the receiver
counts bytes and ends the session.
"""

from __future__ import annotations

import asyncio
import uuid
from xml.etree import ElementTree as ET

import pytest
from ft_helpers import make_file
from raw_peer import NS_FT, NS_JINGLE, jingle, new_sid, reason_of

from slixmpp_jet.testing.loopback import second_loopback

aiortc = pytest.importorskip("aiortc", reason="the webrtc extra (aiortc) is not installed")
from aiortc.sdp import candidate_from_sdp  # noqa: E402

pytestmark = [pytest.mark.xmpp, pytest.mark.asyncio]
NS = "urn:xmpp:jingle:transports:webrtc-datachannel:1"
NS_ICE = "urn:xmpp:jingle:transports:ice-udp:1"
NS_DTLS = "urn:xmpp:jingle:apps:dtls:0"
NS_OPTION = "http://gultsch.de/xmpp/drafts/jingle/transports/ice-udp/option"
MESSAGE = 4096


@pytest.fixture(scope="module", autouse=True)
def host_candidate():
    try:
        with second_loopback() as address:
            yield address
    except PermissionError as error:
        pytest.skip(f"no second loopback address for ICE: {error}")


def sdp_attributes(sdp: str) -> dict[str, list[str]]:
    attributes: dict[str, list[str]] = {}
    for line in sdp.splitlines():
        if line.startswith("a="):
            name, _, value = line[2:].partition(":")
            attributes.setdefault(name, []).append(value)
    return attributes


def conversations_transport(sdp: str) -> ET.Element:
    """What Conversations puts in session-initiate: no candidates."""
    a = sdp_attributes(sdp)
    outer = ET.Element(
        f"{{{NS}}}transport",
        {"sctp-port": a["sctp-port"][0], "max-message-size": a["max-message-size"][0]},
    )
    ice = ET.SubElement(
        outer, f"{{{NS_ICE}}}transport", {"ufrag": a["ice-ufrag"][0], "pwd": a["ice-pwd"][0]}
    )
    hash_name, value = next(f.split(" ", 1) for f in a["fingerprint"] if f.startswith("sha-256"))
    fingerprint = ET.SubElement(
        ice, f"{{{NS_DTLS}}}fingerprint", {"hash": hash_name, "setup": a["setup"][0]}
    )
    fingerprint.text = value
    ET.SubElement(ice, f"{{{NS_OPTION}}}trickle")
    return outer


def conversations_candidate_info(sdp: str, line: str) -> ET.Element:
    """One trickled candidate: the outer attributes, the inner ufrag/pwd, the candidate."""
    a = sdp_attributes(sdp)
    outer = ET.Element(
        f"{{{NS}}}transport",
        {"sctp-port": a["sctp-port"][0], "max-message-size": a["max-message-size"][0]},
    )
    ice = ET.SubElement(
        outer, f"{{{NS_ICE}}}transport", {"ufrag": a["ice-ufrag"][0], "pwd": a["ice-pwd"][0]}
    )
    f = line.split()
    ET.SubElement(
        ice,
        f"{{{NS_ICE}}}candidate",
        {"component": f[1], "foundation": f[0], "generation": "0", "id": str(uuid.uuid4()),
         "ip": f[4], "port": f[5], "priority": f[3], "protocol": f[2].lower(), "type": f[7]},
    )  # fmt: skip
    return outer


def element_sdp(transport: ET.Element, mid: str) -> str:
    """Conversations' SessionDescription.of: the element as SDP (port 9, 0.0.0.0)."""
    ice = transport.find(f"{{{NS_ICE}}}transport")
    assert ice is not None
    fingerprint = ice.find(f"{{{NS_DTLS}}}fingerprint")
    assert fingerprint is not None
    lines = [
        "v=0", "o=- 0 0 IN IP4 0.0.0.0", "s=-", "t=0 0", f"a=group:BUNDLE {mid}",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0",
        f"a=mid:{mid}", f"a=ice-ufrag:{ice.get('ufrag')}", f"a=ice-pwd:{ice.get('pwd')}",
        "a=ice-options:trickle",
        f"a=fingerprint:{fingerprint.get('hash')} {fingerprint.text}",
        f"a=setup:{fingerprint.get('setup')}",
        f"a=sctp-port:{transport.get('sctp-port')}",
        f"a=max-message-size:{transport.get('max-message-size')}",
    ]  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


def content_of(action: ET.Element) -> ET.Element:
    """The data-channel ``<transport/>`` of a Jingle action."""
    found = action.find(f"{{{NS_JINGLE}}}content/{{{NS}}}transport")
    assert found is not None, ET.tostring(action)
    return found


async def add_our_candidates(pc, peer, sid: str, mid: str) -> None:
    """Our candidates, from the transport-infos we sent so far, into the peer connection."""
    for info in peer.received("transport-info", sid):
        for element in content_of(info).iter(f"{{{NS_ICE}}}candidate"):
            line = (f"{element.get('foundation')} {element.get('component')} "
                    f"{element.get('protocol')} {element.get('priority')} {element.get('ip')} "
                    f"{element.get('port')} typ {element.get('type')}")  # fmt: skip
            candidate = candidate_from_sdp(line)
            candidate.sdpMid = mid
            await pc.addIceCandidate(candidate)


async def test_a_conversations_sender_over_the_data_channel(ours_and_peer, tmp_path) -> None:
    ours, peer = ours_and_peer
    ours.register_plugin("jingle_webrtc_datachannel")
    inbox = tmp_path / "in"
    inbox.mkdir()
    accepted: asyncio.Queue = asyncio.Queue()

    async def accept(offer) -> None:
        await accepted.put(await offer.accept(inbox))

    ours.add_event_handler("jingle_file_offer", accept)
    source = make_file(tmp_path, "from-conversations.bin", 300_000)
    payload = source.read_bytes()

    pc = aiortc.RTCPeerConnection()
    channel = pc.createDataChannel("test", protocol="xmpp-jingle")
    opened = asyncio.Event()
    channel.on("open", opened.set)
    try:
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        mid = sdp_attributes(sdp)["mid"][0]
        sid = new_sid()
        content = ET.Element(
            f"{{{NS_JINGLE}}}content", {"creator": "initiator", "name": mid, "senders": "initiator"}
        )
        description = ET.SubElement(content, f"{{{NS_FT}}}description")
        file = ET.SubElement(description, f"{{{NS_FT}}}file")
        ET.SubElement(file, f"{{{NS_FT}}}name").text = source.name
        ET.SubElement(file, f"{{{NS_FT}}}size").text = str(len(payload))
        content.append(conversations_transport(sdp))
        await peer.initiate(ours.boundjid.full, sid, content)
        for line in sdp_attributes(sdp)["candidate"]:
            info = jingle("transport-info", sid)
            trickled = ET.SubElement(info, f"{{{NS_JINGLE}}}content",
                                     {"creator": "initiator", "name": mid})  # fmt: skip
            trickled.append(conversations_candidate_info(sdp, line))
            await peer.send(ours.boundjid.full, info)

        accept_action = await peer.wait_for("session-accept", sid)
        answer = content_of(accept_action)
        assert answer.find(f"{{{NS_ICE}}}transport/{{{NS_ICE}}}candidate") is None
        remote = aiortc.RTCSessionDescription(element_sdp(answer, mid), "answer")
        await pc.setRemoteDescription(remote)
        await peer.wait_for("transport-info", sid)
        await add_our_candidates(pc, peer, sid, mid)

        await asyncio.wait_for(opened.wait(), 20)
        for start in range(0, len(payload), MESSAGE):
            while channel.bufferedAmount > 256 * 1024:
                await asyncio.sleep(0.01)
            channel.send(payload[start : start + MESSAGE])
        terminate = await peer.wait_for("session-terminate", sid)
        assert reason_of(terminate) == "success"
        result = await asyncio.wait_for(await accepted.get(), 10)
        assert result.transport == NS
        assert (inbox / source.name).read_bytes() == payload
    finally:
        await pc.close()


async def test_a_conversations_receiver_over_the_data_channel(ours_and_peer, tmp_path) -> None:
    ours, peer = ours_and_peer
    ours.register_plugin("jingle_webrtc_datachannel")
    source = make_file(tmp_path, "to-conversations.bin", 300_000)
    size = source.stat().st_size

    sending = await ours.plugin["xep_0234"].send_file(peer.jid, source, transport="webrtc")
    [initiate] = peer.initiated()
    sid = initiate.get("sid")
    content = initiate.find(f"{{{NS_JINGLE}}}content")
    assert content is not None
    name = content.get("name")
    offer = content_of(initiate)
    assert offer.find(f"{{{NS_ICE}}}transport/{{{NS_ICE}}}candidate") is None

    pc = aiortc.RTCPeerConnection()
    received = bytearray()
    done = asyncio.Event()

    def on_datachannel(channel) -> None:
        @channel.on("message")
        def on_message(message) -> None:
            received.extend(message)
            if len(received) >= size:
                done.set()

    pc.on("datachannel", on_datachannel)
    try:
        remote = aiortc.RTCSessionDescription(element_sdp(offer, name), "offer")
        await pc.setRemoteDescription(remote)
        pc.createDataChannel("test", protocol="xmpp-jingle")
        await pc.setLocalDescription(await pc.createAnswer())
        sdp = pc.localDescription.sdp
        accept = jingle("session-accept", sid, responder=peer.jid)
        attributes = {"creator": "initiator", "name": name, "senders": "initiator"}
        answer = ET.SubElement(accept, f"{{{NS_JINGLE}}}content", attributes)
        answer.append(conversations_transport(sdp))
        await peer.send(ours.boundjid.full, accept)
        for line in sdp_attributes(sdp)["candidate"]:
            info = jingle("transport-info", sid)
            trickled = ET.SubElement(info, f"{{{NS_JINGLE}}}content",
                                     {"creator": "initiator", "name": name})  # fmt: skip
            trickled.append(conversations_candidate_info(sdp, line))
            await peer.send(ours.boundjid.full, info)
        await peer.wait_for("transport-info", sid)
        await add_our_candidates(pc, peer, sid, name)

        await asyncio.wait_for(done.wait(), 30)
        assert bytes(received) == source.read_bytes()
        terminate = jingle("session-terminate", sid)
        reason = ET.SubElement(terminate, f"{{{NS_JINGLE}}}reason")
        ET.SubElement(reason, f"{{{NS_JINGLE}}}success")
        await peer.send(ours.boundjid.full, terminate)
        result = await asyncio.wait_for(sending, 10)
        assert result.transport == NS
        assert result.size == size
    finally:
        await pc.close()
