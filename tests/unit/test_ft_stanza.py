"""XEP-0234 <description>, <checksum>, <received> and error elements, on plain ElementTree."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slixmpp.xmlstream import tostring

from slixmpp_jet.errors import ProtocolError
from slixmpp_jet.file_transfer.hashes import SUPPORTED, encode_hash, new_hasher
from slixmpp_jet.file_transfer.stanza import (
    NS_FT,
    NS_FT_ERRORS,
    NS_HASHES,
    FileInfo,
    FileRange,
    build_checksum,
    build_description,
    build_received,
    file_not_available,
    parse_checksum,
    parse_description,
)

FT = f"{{{NS_FT}}}"
H = f"{{{NS_HASHES}}}"
SPEC_SHA1 = "w0mcJylzCn+AfvuGdqkty2+KP48="

# The <description> examples of XEP-0234 v0.19.1, verbatim.
SPEC_DESCRIPTIONS = {
    "application-format": """
<description xmlns='urn:xmpp:jingle:apps:file-transfer:5'>
  <file>
    <media-type>text/plain</media-type>
    <name>test.txt</name>
    <date>2015-07-26T21:46:00+01:00</date>
    <size>6144</size>
    <hash xmlns='urn:xmpp:hashes:2'
          algo='sha-1'>w0mcJylzCn+AfvuGdqkty2+KP48=</hash>
  </file>
</description>""",
    "session-initiate": """
      <description xmlns='urn:xmpp:jingle:apps:file-transfer:5'>
        <file>
          <date>1969-07-21T02:56:15Z</date>
          <desc>This is a test. If this were a real file...</desc>
          <media-type>text/plain</media-type>
          <name>test.txt</name>
          <range/>
          <size>6144</size>
          <hash xmlns='urn:xmpp:hashes:2'
                algo='sha-1'>w0mcJylzCn+AfvuGdqkty2+KP48=</hash>
        </file>
      </description>""",
    "request": """
      <description xmlns='urn:xmpp:jingle:apps:file-transfer:5'>
        <file>
          <hash xmlns='urn:xmpp:hashes:2'
                algo='sha-1'>w0mcJylzCn+AfvuGdqkty2+KP48=</hash>
        </file>
      </description>""",
    "content-add": """
      <description xmlns='urn:xmpp:jingle:apps:file-transfer:5'>
        <file>
          <name>second-file.txt</name>
          <media-type>text/plain</media-type>
          <size>6144</size>
          <hash xmlns='urn:xmpp:hashes:2'
                algo='sha-1'>w0mcJylzCn+AfvuGdqkty2+KP48=</hash>
        </file>
      </description>""",
    "ranged-restart": """
      <description xmlns='urn:xmpp:jingle:apps:file-transfer:5'>
        <file>
          <range offset='270336'/>
          <hash xmlns='urn:xmpp:hashes:2'
                algo='sha-1'>w0mcJylzCn+AfvuGdqkty2+KP48=</hash>
        </file>
      </description>""",
    "sdp-mapping": """
<description xmlns='urn:xmpp:jingle:apps:file-transfer:5'>
  <file>
    <media-type>text/plain</media-type>
    <name>test.txt</name>
    <date>2015-07-26T21:46:00+01:00</date>
    <size>6144</size>
    <hash xmlns='urn:xmpp:hashes:2'
          algo='sha-1'>w0mcJylzCn+AfvuGdqkty2+KP48=</hash>
    <range offset='1024' />
  </file>
</description>""",
    "hash-used": """
      <description xmlns='urn:xmpp:jingle:apps:file-transfer:5'>
        <file>
          <date>1969-07-21T02:56:15Z</date>
          <desc>This is a test. If this were a real file...</desc>
          <media-type>text/plain</media-type>
          <name>test.txt</name>
          <range/>
          <size>6144</size>
          <hash-used xmlns='urn:xmpp:hashes:2' algo='sha-1'/>
        </file>
      </description>""",
}

SPEC_CHECKSUM = """
    <checksum xmlns='urn:xmpp:jingle:apps:file-transfer:5'
              creator='initiator'
              name='a-file-offer'>
      <file>
        <hash xmlns='urn:xmpp:hashes:2'
              algo='sha-1'>w0mcJylzCn+AfvuGdqkty2+KP48=</hash>
      </file>
    </checksum>"""

SPEC_RANGED_CHECKSUM = """
    <checksum xmlns='urn:xmpp:jingle:apps:file-transfer:5'
              creator='initiator'
              name='a-file-offer'>
      <file>
        <range offset='2048' length='1024'>
          <hash xmlns='urn:xmpp:hashes:2'
                algo='sha-1'>kHp5RSzW/h7Gm1etSf90Mr5PC/k=</hash>
        </range>
      </file>
    </checksum>"""


def essence(element: ET.Element) -> tuple[object, ...]:
    """What a <file> element means, independent of child order, whitespace and date zone."""
    text = (element.text or "").strip()
    if element.tag == f"{FT}date":
        text = datetime.fromisoformat(text).astimezone(UTC).isoformat()
    attributes = dict(element.attrib)
    if element.tag == f"{FT}range" and attributes.get("offset") == "0":
        del attributes["offset"]
    children = sorted(
        (essence(child) for child in element if not (child.tag == f"{FT}desc" and not child.text)),
        key=repr,
    )
    return (element.tag, sorted(attributes.items()), text, children)


def description_with(*children: str) -> ET.Element:
    return ET.fromstring(
        f"<description xmlns='{NS_FT}' xmlns:h='{NS_HASHES}'><file>{''.join(children)}</file>"
        "</description>"
    )


def reparse(element: ET.Element) -> ET.Element:
    """Go through real serialisation, as the element will on the wire."""
    return ET.fromstring(ET.tostring(element))


@pytest.mark.parametrize("example", SPEC_DESCRIPTIONS)
def test_spec_examples_reserialise_equivalently(example):
    original = ET.fromstring(SPEC_DESCRIPTIONS[example])
    info = parse_description(original)
    rebuilt = reparse(build_description(info))
    assert essence(rebuilt.find(f"{FT}file")) == essence(original.find(f"{FT}file"))
    assert parse_description(rebuilt) == info


def test_spec_application_format_example_values():
    info = parse_description(ET.fromstring(SPEC_DESCRIPTIONS["application-format"]))
    assert info == FileInfo(
        name="test.txt",
        size=6144,
        date=datetime(2015, 7, 26, 20, 46, tzinfo=UTC),
        media_type="text/plain",
        hashes={"sha-1": base64.b64decode(SPEC_SHA1)},
    )
    assert info.date is not None and info.date.tzinfo is UTC


def test_spec_session_initiate_example_values():
    info = parse_description(ET.fromstring(SPEC_DESCRIPTIONS["session-initiate"]))
    assert info.date == datetime(1969, 7, 21, 2, 56, 15, tzinfo=UTC)
    assert info.desc == "This is a test. If this were a real file..."
    assert info.range == FileRange()
    assert info.hash_used == ()


def test_spec_ranged_and_hash_used_examples():
    restart = parse_description(ET.fromstring(SPEC_DESCRIPTIONS["ranged-restart"]))
    assert restart.range == FileRange(offset=270336)
    assert restart.name is None and restart.size is None
    announced = parse_description(ET.fromstring(SPEC_DESCRIPTIONS["hash-used"]))
    assert announced.hash_used == ("sha-1",)
    assert announced.hashes == {}


def test_built_description_shape():
    info = FileInfo(
        name="report.pdf",
        size=0,
        date=datetime(2024, 2, 29, 23, 30, tzinfo=timezone(timedelta(hours=-2))),
        media_type="application/pdf",
        hashes={"sha-256": hashlib.sha256(b"").digest()},
        hash_used=("sha3-256",),
        range=FileRange(offset=10, length=20),
    )
    description = build_description(info)
    assert description.tag == f"{FT}description"
    file = description.find(f"{FT}file")
    assert file is not None
    assert file.findtext(f"{FT}name") == "report.pdf"
    assert file.findtext(f"{FT}size") == "0"
    assert file.findtext(f"{FT}date") == "2024-03-01T01:30:00Z"
    assert file.findtext(f"{FT}media-type") == "application/pdf"
    assert file.find(f"{FT}range").attrib == {"offset": "10", "length": "20"}
    hash_element = file.find(f"{H}hash")
    assert hash_element.attrib == {"algo": "sha-256"}
    assert hash_element.text == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert file.find(f"{H}hash-used").attrib == {"algo": "sha3-256"}


def test_date_keeps_microseconds():
    info = FileInfo(date=datetime(2020, 1, 2, 3, 4, 5, 678, tzinfo=UTC))
    file = build_description(info).find(f"{FT}file")
    assert file.findtext(f"{FT}date") == "2020-01-02T03:04:05.000678Z"
    assert parse_description(reparse(build_description(info))) == info


def test_serialised_by_slixmpp_with_the_right_namespaces():
    xml = tostring(build_description(FileInfo(name="a", hashes={"sha-1": bytes(20)})))
    assert xml.startswith(f'<description xmlns="{NS_FT}"><file>')
    assert f'<hash xmlns="{NS_HASHES}" algo="sha-1">AAAAAAAAAAAAAAAAAAAAAAAAAAA=</hash>' in xml


def test_libervia_offer_shape_has_empty_desc_and_hash_used():
    info = FileInfo(
        name="photo.jpg",
        size=1234,
        media_type="image/jpeg",
        hash_used=("sha-256",),
        range=FileRange(),
    )
    file = reparse(build_description(info)).find(f"{FT}file")
    desc = file.find(f"{FT}desc")
    assert desc is not None and not desc.text
    assert [element.attrib for element in file.findall(f"{H}hash-used")] == [{"algo": "sha-256"}]
    assert file.find(f"{H}hash") is None  # a standard <hash> in an offer crashes Libervia
    assert file.find(f"{FT}range").attrib == {}


def test_desc_is_always_present_even_for_an_empty_file_info():
    file = build_description(FileInfo()).find(f"{FT}file")
    assert [child.tag for child in file] == [f"{FT}desc"]


def test_libervia_offer_parses():
    offer = description_with(
        "<name>photo.jpg</name><size>1234</size><desc/><range/>",
        "<media-type>image/jpeg</media-type><h:hash-used algo='sha-256'/>",
    )
    assert parse_description(offer) == FileInfo(
        name="photo.jpg",
        size=1234,
        media_type="image/jpeg",
        hash_used=("sha-256",),
        range=FileRange(),
    )


def test_libervia_checksum_with_base64_of_hex_parses_to_the_raw_digest():
    digest = hashlib.sha256(b"hello").digest()
    libervia_value = base64.b64encode(digest.hex().encode()).decode()
    checksum = ET.fromstring(
        f"<checksum xmlns='{NS_FT}' creator='initiator' name='c1'><file>"
        f"<hash xmlns='{NS_HASHES}' algo='sha-256'>{libervia_value}</hash></file></checksum>"
    )
    assert parse_checksum(checksum) == ("initiator", "c1", {"sha-256": digest})


def test_conversations_media_type_spelling_is_accepted():
    offer = description_with("<name>IMG.jpg</name><size>10</size><mediaType>image/jpeg</mediaType>")
    assert parse_description(offer).media_type == "image/jpeg"


def test_standard_media_type_wins_over_conversations_spelling():
    offer = description_with("<mediaType>image/png</mediaType><media-type>image/jpeg</media-type>")
    assert parse_description(offer).media_type == "image/jpeg"


def test_conversations_checksum_with_hard_coded_name_and_two_algorithms():
    wire = b"ciphertext and tag"
    checksum = ET.fromstring(
        f"<checksum xmlns='{NS_FT}' creator='initiator' name='a-file-offer'><file>"
        f"<hash xmlns='{NS_HASHES}' algo='sha-1'>"
        f"{base64.b64encode(hashlib.sha1(wire).digest()).decode()}</hash>"
        f"<hash xmlns='{NS_HASHES}' algo='sha-256'>"
        f"{base64.b64encode(hashlib.sha256(wire).digest()).decode()}</hash>"
        "</file></checksum>"
    )
    creator, name, hashes = parse_checksum(checksum)
    assert (creator, name) == ("initiator", "a-file-offer")
    assert hashes == {
        "sha-1": hashlib.sha1(wire).digest(),
        "sha-256": hashlib.sha256(wire).digest(),
    }


def test_tolerated_extras():
    offer = description_with(
        "<name>x</name>",
        "<thumbnail xmlns='urn:xmpp:thumbs:1' uri='cid:x' media-type='image/png'/>",
        "<unknown>ignored</unknown>",
        "<desc xml:lang='en'>first</desc><desc xml:lang='de'>zweite</desc>",
        "<h:hash algo='md5'>1B2M2Y8AsgTpgAmY7PhCfg==</h:hash>",
        "<h:hash>no algorithm</h:hash>",
        "<h:hash-used algo='md5'/>",
        f"<h:hash algo='sha-1'>{SPEC_SHA1}</h:hash><h:hash algo='sha-1'>{SPEC_SHA1}</h:hash>",
        "<h:hash algo='sha-256'/>",
        "<h:hash-used algo='sha-256'/>",
        "<size> 42 </size>",
    )
    assert parse_description(offer) == FileInfo(
        name="x",
        size=42,
        desc="first",
        hashes={"sha-1": base64.b64decode(SPEC_SHA1)},
        hash_used=("sha-256",),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015-07-26", datetime(2015, 7, 26, tzinfo=UTC)),
        ("2015-07-26T21:46:00", datetime(2015, 7, 26, 21, 46, tzinfo=UTC)),
        ("2015-07-26T21:46Z", datetime(2015, 7, 26, 21, 46, tzinfo=UTC)),
        (
            "2015-07-26T21:46:00.123456789-05:30",
            datetime(2015, 7, 27, 3, 16, 0, 123456, tzinfo=UTC),
        ),
    ],
)
def test_lenient_dates(text, expected):
    info = parse_description(description_with(f"<date>{text}</date>"))
    assert info.date == expected
    assert info.date.tzinfo is UTC


@pytest.mark.parametrize(
    "children",
    [
        "<size>-1</size>",
        "<size>abc</size>",
        "<size>1.5</size>",
        "<size>0x10</size>",
        "<size>+5</size>",
        "<size>\uff11\uff12</size>",  # full-width digits, which int() would accept
        "<size>1 2</size>",
        "<size>123456789012345678901</size>",
        "<date>yesterday</date>",
        "<date>2015-13-01T00:00:00Z</date>",
        "<date>2015-07-26T25:00:00Z</date>",
        "<date>2015-07-26 21:46:00Z</date>",
        "<date>20150726T214600Z</date>",
        "<date>0001-01-01T00:00:00+01:00</date>",
        "<range offset='-1'/>",
        "<range offset='x'/>",
        "<range length='-5'/>",
        "<range length=''/>",
        "<h:hash algo='sha-256'>AAAA</h:hash>",
        "<h:hash algo='sha-1'>not base64!</h:hash>",
        f"<h:hash algo='sha-1'>{SPEC_SHA1}</h:hash>"
        "<h:hash algo='sha-1'>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</h:hash>",
    ],
)
def test_malformed_descriptions_are_bad_requests(children):
    with pytest.raises(ProtocolError) as caught:
        parse_description(description_with(children))
    assert caught.value.condition == "bad-request"


@pytest.mark.parametrize(
    "xml",
    [
        f"<description xmlns='{NS_FT}'/>",
        f"<description xmlns='{NS_FT}'><name>x</name></description>",
        "<description xmlns='urn:xmpp:jingle:apps:file-transfer:4'><file/></description>",
        f"<checksum xmlns='{NS_FT}'><file/></checksum>",
    ],
)
def test_descriptions_without_a_file_are_bad_requests(xml):
    with pytest.raises(ProtocolError) as caught:
        parse_description(ET.fromstring(xml))
    assert caught.value.condition == "bad-request"


def test_spec_checksum_examples():
    assert parse_checksum(ET.fromstring(SPEC_CHECKSUM)) == (
        "initiator",
        "a-file-offer",
        {"sha-1": base64.b64decode(SPEC_SHA1)},
    )
    _, _, ranged = parse_checksum(ET.fromstring(SPEC_RANGED_CHECKSUM))
    assert ranged == {"sha-1": base64.b64decode("kHp5RSzW/h7Gm1etSf90Mr5PC/k=")}


def test_built_checksum_matches_the_spec_example():
    built = reparse(
        build_checksum("initiator", "a-file-offer", {"sha-1": base64.b64decode(SPEC_SHA1)})
    )
    spec = ET.fromstring(SPEC_CHECKSUM)
    assert built.tag == spec.tag and built.attrib == spec.attrib
    assert essence(built.find(f"{FT}file")) == essence(spec.find(f"{FT}file"))


def test_checksum_without_creator_or_name_and_only_announcements():
    checksum = ET.fromstring(
        f"<checksum xmlns='{NS_FT}'><file><hash-used xmlns='{NS_HASHES}' algo='sha-256'/></file>"
        "</checksum>"
    )
    assert parse_checksum(checksum) == (None, None, {})


@pytest.mark.parametrize(
    "xml",
    [
        f"<checksum xmlns='{NS_FT}' creator='initiator' name='a'/>",
        f"<checksum xmlns='{NS_FT}' creator='initiator' name='a'><file/></checksum>",
        f"<checksum xmlns='{NS_FT}' creator='initiator' name='a'><file><range/></file></checksum>",
        f"<checksum xmlns='{NS_FT}' name='a'><file><hash xmlns='{NS_HASHES}' algo='sha-256'>"
        "AAAA</hash></file></checksum>",
        f"<description xmlns='{NS_FT}'><file/></description>",
    ],
)
def test_malformed_checksums_are_bad_requests(xml):
    with pytest.raises(ProtocolError) as caught:
        parse_checksum(ET.fromstring(xml))
    assert caught.value.condition == "bad-request"


def test_received_and_file_not_available():
    received = build_received("responder", "a-file-offer")
    assert received.tag == f"{FT}received"
    assert received.attrib == {"creator": "responder", "name": "a-file-offer"}
    assert len(received) == 0
    error = file_not_available()
    assert error.tag == f"{{{NS_FT_ERRORS}}}file-not-available"
    assert len(error) == 0 and not error.text


@pytest.mark.parametrize(
    "build",
    [
        lambda: build_received("both", "x"),
        lambda: build_checksum("none", "x", {"sha-1": bytes(20)}),
        lambda: build_checksum("initiator", "x", {}),
        lambda: build_checksum("initiator", "x", {"sha-256": bytes(20)}),
        lambda: build_checksum("initiator", "x", {"md5": bytes(16)}),
        lambda: FileInfo(size=-1),
        lambda: FileInfo(date=datetime(2020, 1, 1)),
        lambda: FileInfo(hashes={"sha-1": b"short"}),
        lambda: FileInfo(hash_used=("md5",)),
        lambda: FileRange(offset=-1),
        lambda: FileRange(length=-1),
    ],
)
def test_invalid_values_are_refused_when_building(build):
    with pytest.raises(ValueError):
        build()


XML_TEXT = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Cn"), include_characters="\t\n"), min_size=1
)


@st.composite
def digests(draw: st.DrawFn) -> dict[str, bytes]:
    algos = draw(st.lists(st.sampled_from(SUPPORTED), unique=True))
    sizes = {algo: new_hasher(algo).digest_size for algo in algos}
    return {algo: draw(st.binary(min_size=size, max_size=size)) for algo, size in sizes.items()}


FILE_INFOS = st.builds(
    FileInfo,
    name=st.none() | XML_TEXT,
    size=st.none() | st.integers(min_value=0, max_value=10**20 - 1),
    date=st.none()
    | st.datetimes(
        min_value=datetime(2, 1, 1),
        max_value=datetime(9998, 12, 31),
        timezones=st.builds(
            timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
        ),
    ),
    media_type=st.none() | st.from_regex(r"[a-z]{1,12}/[a-z0-9.+-]{1,20}", fullmatch=True),
    desc=st.none() | XML_TEXT,
    hashes=digests(),
    hash_used=st.lists(st.sampled_from(SUPPORTED), unique=True).map(tuple),
    range=st.none()
    | st.builds(
        FileRange,
        offset=st.integers(min_value=0, max_value=2**63),
        length=st.none() | st.integers(min_value=0, max_value=2**63),
    ),
)


@given(FILE_INFOS)
def test_build_then_parse_is_identity(info):
    assert parse_description(reparse(build_description(info))) == info


@given(
    creator=st.sampled_from(["initiator", "responder"]),
    name=XML_TEXT,
    hashes=digests().filter(bool),
)
def test_checksum_build_then_parse_is_identity(creator, name, hashes):
    assert parse_checksum(reparse(build_checksum(creator, name, hashes))) == (creator, name, hashes)


ANY_XML_TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs", "Cn")), max_size=60)


@given(
    size=ANY_XML_TEXT | st.integers(min_value=-5).map(str),
    date=ANY_XML_TEXT | st.datetimes().map(datetime.isoformat),
    offset=ANY_XML_TEXT | st.integers(min_value=-5).map(str),
    hash_value=ANY_XML_TEXT | st.binary(min_size=20, max_size=64).map(encode_hash),
    algo=st.sampled_from(SUPPORTED),
)
def test_arbitrary_field_text_parses_or_is_a_bad_request(size, date, offset, hash_value, algo):
    element = build_description(FileInfo(range=FileRange()))
    file = element.find(f"{FT}file")
    ET.SubElement(file, f"{FT}size").text = size
    ET.SubElement(file, f"{FT}date").text = date
    file.find(f"{FT}range").set("offset", offset)
    ET.SubElement(file, f"{H}hash", {"algo": algo}).text = hash_value
    try:
        info = parse_description(reparse(element))
    except ProtocolError as error:
        assert error.condition == "bad-request"
    else:
        assert info.size is None or str(info.size) == size.strip()
        assert info.range is not None and str(info.range.offset) == offset.strip()
        assert info.date is None or info.date.tzinfo is UTC
