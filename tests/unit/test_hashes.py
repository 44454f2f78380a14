"""XEP-0300 hashes: algorithms, Base64 in both directions, Libervia's hex form, disco features."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slixmpp_jet.errors import ProtocolError
from slixmpp_jet.file_transfer.hashes import (
    SUPPORTED,
    decode_hash,
    encode_hash,
    hash_features,
    new_hasher,
)

# Published digests of b"abc" (FIPS 180-4 / FIPS 202 examples, RFC 7693 appendix A).
ABC_DIGESTS = {
    "sha-1": "a9993e364706816aba3e25717850c26c9cd0d89d",
    "sha-256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    "sha-512": "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    "sha3-256": "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
    "sha3-512": "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e"
    "10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0",
    "blake2b-256": "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319",
    "blake2b-512": "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
    "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
}

DIGEST_SIZES = {
    "sha-1": 20,
    "sha-256": 32,
    "sha-512": 64,
    "sha3-256": 32,
    "sha3-512": 64,
    "blake2b-256": 32,
    "blake2b-512": 64,
}


def test_every_supported_algorithm_has_a_known_answer():
    assert set(ABC_DIGESTS) == set(SUPPORTED)


@pytest.mark.parametrize("algo", SUPPORTED)
def test_new_hasher_matches_the_published_digest_of_abc(algo):
    hasher = new_hasher(algo)
    hasher.update(b"a")
    hasher.update(b"bc")
    assert hasher.hexdigest() == ABC_DIGESTS[algo]
    assert hasher.digest_size == DIGEST_SIZES[algo]


@pytest.mark.parametrize("algo", SUPPORTED)
def test_each_call_returns_an_independent_hasher(algo):
    first = new_hasher(algo)
    first.update(b"abc")
    assert new_hasher(algo).digest() != first.digest()


@pytest.mark.parametrize(
    "algo", ["md5", "md2", "md4", "sha-224", "SHA-256", "sha256", "", "blake2b"]
)
def test_unsupported_or_misspelt_algorithms_are_refused(algo):
    with pytest.raises(ValueError, match="unsupported hash algorithm"):
        new_hasher(algo)


def test_xep_0300_example_values_decode():
    assert len(decode_hash("sha-1", "2AfMGH8O7UNPTvUVAM9aK13mpCY=")) == 20
    digest = decode_hash("sha-256", "2XarmwTlNxDAMkvymloX3S5+VbylNrJt/l5QyPa+YoU=")
    assert encode_hash(digest) == "2XarmwTlNxDAMkvymloX3S5+VbylNrJt/l5QyPa+YoU="


def test_encode_is_standard_padded_base64_without_newline():
    digest = bytes.fromhex(ABC_DIGESTS["sha-1"])
    assert encode_hash(digest) == "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="


@given(algo=st.sampled_from(SUPPORTED), data=st.data())
def test_encode_then_decode_is_identity(algo, data):
    digest = data.draw(st.binary(min_size=DIGEST_SIZES[algo], max_size=DIGEST_SIZES[algo]))
    text = encode_hash(digest)
    assert "\n" not in text
    assert decode_hash(algo, text) == digest


@given(algo=st.sampled_from(SUPPORTED), data=st.data(), upper=st.booleans())
def test_libervia_base64_of_hex_string_is_accepted(algo, data, upper):
    digest = data.draw(st.binary(min_size=DIGEST_SIZES[algo], max_size=DIGEST_SIZES[algo]))
    hex_text = digest.hex().upper() if upper else digest.hex()
    assert decode_hash(algo, base64.b64encode(hex_text.encode()).decode()) == digest


def test_libervia_sha256_checksum_is_88_characters_and_decodes():
    libervia = base64.b64encode(ABC_DIGESTS["sha-256"].encode()).decode()
    assert len(libervia) == 88
    assert decode_hash("sha-256", libervia) == bytes.fromhex(ABC_DIGESTS["sha-256"])


def test_surrounding_whitespace_is_tolerated():
    text = "\n   2XarmwTlNxDAMkvymloX3S5+VbylNrJt/l5QyPa+YoU=  \n"
    assert len(decode_hash("sha-256", text)) == 32


@pytest.mark.parametrize(
    ("algo", "text"),
    [
        ("sha-256", "2AfMGH8O7UNPTvUVAM9aK13mpCY="),  # a sha-1 value for sha-256
        ("sha-1", "2XarmwTlNxDAMkvymloX3S5+VbylNrJt/l5QyPa+YoU="),  # the other way round
        ("sha-256", ""),
        ("sha-256", "not base64 at all!"),
        ("sha-256", "2Xarmw TlNxDAMkvymloX3S5+VbylNrJt/l5QyPa+YoU="),  # inner whitespace
        ("sha-256", "2XarmwTlNxDAMkvymloX3S5+VbylNrJt/l5QyPa+YoU"),  # padding missing
        ("sha-256", "2XarmwTlNxDAMkvymloX3S5-VbylNrJt_l5QyPa-YoU="),  # URL-safe alphabet
        ("sha-256", "ÿ" * 44),
        ("sha-256", ABC_DIGESTS["sha-256"]),  # raw hex text, not Base64
        # Base64 of 64 bytes that are not hex digits: the length fits the hex form only.
        ("sha-256", base64.b64encode(b"z" * 64).decode()),
    ],
)
def test_values_that_fit_neither_form_are_bad_requests(algo, text):
    with pytest.raises(ProtocolError) as caught:
        decode_hash(algo, text)
    assert caught.value.condition == "bad-request"
    assert algo in str(caught.value)


def test_decoding_for_an_unsupported_algorithm_is_a_value_error():
    with pytest.raises(ValueError, match="unsupported"):
        decode_hash("md5", "1B2M2Y8AsgTpgAmY7PhCfg==")


def test_hash_features_name_the_namespace_and_every_algorithm():
    features = hash_features()
    assert features[0] == "urn:xmpp:hashes:2"
    assert features[1:] == [f"urn:xmpp:hash-function-text-names:{algo}" for algo in SUPPORTED]
    assert "urn:xmpp:hash-function-text-names:md5" not in features
    assert hash_features() is not features  # callers may extend their copy


def test_hex_in_base64_encoding_round_trips_through_the_lenient_decoder() -> None:
    digest = hashlib.sha256(b"abc").digest()
    text = encode_hash(digest, hex_in_base64=True)
    assert len(text) == 88
    assert base64.b64decode(text) == digest.hex().encode()
    assert decode_hash("sha-256", text) == digest
