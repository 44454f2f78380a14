"""The JET cipher registry: spellings, sizes, fresh secrets, lenient secret checks."""

from __future__ import annotations

import pytest

from slixmpp_jet.errors import Reason, SecurityError
from slixmpp_jet.jet.ciphers import (
    AES_128_GCM,
    AES_256_GCM,
    CIPHERS,
    MAX_PLAINTEXT_SIZE,
    check_plaintext_size,
    cipher_by_name,
    cipher_for_uri,
    validate_secret,
)
from slixmpp_jet.jet.envelope import TransportSecret
from slixmpp_jet.jet.security import StreamSecurity


@pytest.mark.parametrize(
    "uri",
    [
        "urn:xmpp:ciphers:aes-128-gcm-nopadding",
        "urn:xmpp:ciphers:aes-128-gcm-nopadding:0",
        "aes-128-gcm-nopadding:0",
    ],
)
def test_every_aes128_spelling_maps_to_aes128(uri: str) -> None:
    assert cipher_for_uri(uri) is AES_128_GCM


@pytest.mark.parametrize(
    "uri",
    [
        "urn:xmpp:ciphers:aes-256-gcm-nopadding",
        "urn:xmpp:ciphers:aes-256-gcm-nopadding:0",
        "aes-256-gcm-nopadding:0",
    ],
)
def test_every_aes256_spelling_maps_to_aes256(uri: str) -> None:
    assert cipher_for_uri(uri) is AES_256_GCM


@pytest.mark.parametrize(
    "uri",
    [
        "urn:xmpp:ciphers:aes-256-cbc-pkcs7:0",
        "urn:xmpp:ciphers:aes-128-gcm-nopadding:1",
        "URN:XMPP:CIPHERS:AES-128-GCM-NOPADDING",
        "aes-128-gcm",
        "",
    ],
)
def test_unknown_cipher_uri_is_a_security_error_naming_it(uri: str) -> None:
    with pytest.raises(SecurityError) as caught:
        cipher_for_uri(uri)
    assert repr(uri) in str(caught.value)
    assert caught.value.reason is Reason.SECURITY_ERROR


def test_canonical_uris_are_what_peers_expect() -> None:
    # Dino and Conversations accept exactly this AES-128 spelling; AES-256 follows the XEP table.
    assert AES_128_GCM.uri == "urn:xmpp:ciphers:aes-128-gcm-nopadding"
    assert AES_256_GCM.uri == "urn:xmpp:ciphers:aes-256-gcm-nopadding:0"
    assert CIPHERS[0] is AES_128_GCM


def test_sizes_follow_xep_0391_table() -> None:
    assert (AES_128_GCM.key_size, AES_128_GCM.iv_size, AES_128_GCM.tag_size) == (16, 12, 16)
    assert (AES_256_GCM.key_size, AES_256_GCM.iv_size, AES_256_GCM.tag_size) == (32, 12, 16)


def test_short_names() -> None:
    assert cipher_by_name("aes-128-gcm") is AES_128_GCM
    assert cipher_by_name("aes-256-gcm") is AES_256_GCM
    with pytest.raises(SecurityError, match="'aes-512-gcm'"):
        cipher_by_name("aes-512-gcm")


@pytest.mark.parametrize("cipher", CIPHERS, ids=lambda cipher: cipher.name)
def test_new_secret_is_fresh_and_sized(cipher) -> None:
    secrets = [cipher.new_secret() for _ in range(32)]
    assert all(len(s.key) == cipher.key_size and len(s.iv) == cipher.iv_size for s in secrets)
    assert len({s.key for s in secrets}) == len(secrets)
    assert len({s.iv for s in secrets}) == len(secrets)
    # The IV is drawn on its own, never taken from the key.
    assert all(s.iv not in s.key for s in secrets)


def test_secret_repr_never_shows_key_material() -> None:
    secret = AES_128_GCM.new_secret()
    assert secret.key.hex() not in repr(secret)
    assert secret.iv.hex() not in repr(secret)
    assert str(secret.key) not in repr(secret)


@pytest.mark.parametrize("cipher", CIPHERS, ids=lambda cipher: cipher.name)
def test_validate_secret_accepts_exact_sizes_unchanged(cipher) -> None:
    secret = cipher.new_secret()
    assert validate_secret(cipher, secret) == secret


def test_validate_secret_takes_first_16_bytes_of_32_for_aes128() -> None:
    key_and_auth_tag = bytes(range(32))
    secret = TransportSecret(key=key_and_auth_tag, iv=bytes(12))
    assert validate_secret(AES_128_GCM, secret) == TransportSecret(
        key=bytes(range(16)), iv=bytes(12)
    )


@pytest.mark.parametrize("cipher", CIPHERS, ids=lambda cipher: cipher.name)
def test_validate_secret_accepts_16_byte_iv_of_old_dino(cipher) -> None:
    secret = TransportSecret(key=bytes(cipher.key_size), iv=bytes(16))
    assert validate_secret(cipher, secret) == secret


@pytest.mark.parametrize(
    ("cipher", "key_size", "iv_size", "complaint"),
    [
        (AES_128_GCM, 15, 12, "16-byte key"),
        (AES_128_GCM, 24, 12, "16-byte key"),
        (AES_128_GCM, 33, 12, "16-byte key"),
        (AES_128_GCM, 0, 12, "16-byte key"),
        (AES_256_GCM, 16, 12, "32-byte key"),
        (AES_256_GCM, 31, 12, "32-byte key"),
        (AES_256_GCM, 64, 12, "32-byte key"),
        (AES_128_GCM, 16, 11, "12-byte IV"),
        (AES_128_GCM, 16, 0, "12-byte IV"),
        (AES_256_GCM, 32, 13, "12-byte IV"),
        (AES_256_GCM, 32, 32, "12-byte IV"),
    ],
)
def test_validate_secret_refuses_wrong_sizes(cipher, key_size, iv_size, complaint) -> None:
    secret = TransportSecret(key=bytes(key_size), iv=bytes(iv_size))
    with pytest.raises(SecurityError, match=complaint):
        validate_secret(cipher, secret)
    with pytest.raises(SecurityError, match=complaint):
        StreamSecurity("omemo", cipher, secret)  # no cipher context without a checked secret


def test_plaintext_size_limit_is_one_gcm_invocation() -> None:
    # NIST SP 800-38D: at most 2^39 - 256 bits of plaintext per invocation.
    assert MAX_PLAINTEXT_SIZE * 8 == 2**39 - 256
    check_plaintext_size(0)
    check_plaintext_size(MAX_PLAINTEXT_SIZE)
    with pytest.raises(SecurityError, match="64 GiB"):
        check_plaintext_size(MAX_PLAINTEXT_SIZE + 1)
    with pytest.raises(SecurityError, match="-1 bytes"):
        check_plaintext_size(-1)
