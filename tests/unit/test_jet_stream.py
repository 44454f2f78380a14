"""The AES-GCM stream layer: known answers, round trips, tampering, framing, memory."""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import random
import tracemalloc

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st
from memory_pipe import MemoryPipe

from slixmpp_jet.errors import SecurityError
from slixmpp_jet.jet.ciphers import AES_128_GCM, AES_256_GCM, CIPHERS, MAX_PLAINTEXT_SIZE, Cipher
from slixmpp_jet.jet.envelope import TransportSecret
from slixmpp_jet.jet.security import StreamSecurity
from slixmpp_jet.jet.stream import ENCRYPT_CHUNK, DecryptingSource, EncryptingSink
from slixmpp_jet.transports.base import DEFAULT_CHUNK, ByteSink, ByteSource

TAG = 16

# McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases without AAD
# and with a 96-bit IV: (cipher, key, iv, plaintext, ciphertext, tag).
H = bytes.fromhex
_P3 = H(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
KNOWN_ANSWERS = {
    "case 1": (AES_128_GCM, bytes(16), bytes(12), b"", b"", H("58e2fccefa7e3061367f1d57a4e7455a")),
    "case 2": (
        AES_128_GCM,
        bytes(16),
        bytes(12),
        bytes(16),
        H("0388dace60b6a392f328c2b971b2fe78"),
        H("ab6e47d42cec13bdf53a67b21257bddf"),
    ),
    "case 3": (
        AES_128_GCM,
        H("feffe9928665731c6d6a8f9467308308"),
        H("cafebabefacedbaddecaf888"),
        _P3,
        H(
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
            "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
        ),
        H("4d5c2af327cd64a62cf35abd2ba6fab4"),
    ),
    "case 13": (AES_256_GCM, bytes(32), bytes(12), b"", b"", H("530f8afbc74536b9a963b4f1c4cb738b")),
    "case 14": (
        AES_256_GCM,
        bytes(32),
        bytes(12),
        bytes(16),
        H("cea7403d4d606b6e074ec5d3baf39d18"),
        H("d0d1c8a799996bf0265b98b5d48ab919"),
    ),
    "case 15": (
        AES_256_GCM,
        H("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"),
        H("cafebabefacedbaddecaf888"),
        _P3,
        H(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
            "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
        ),
        H("b094dac5d93471bdec1a502270e3cc6c"),
    ),
}


def keyed(cipher, secret) -> StreamSecurity:
    """The stream protection the JET plugin would carry for ``secret``."""
    return StreamSecurity("test", cipher, secret)


async def encrypt(
    plaintext: bytes, cipher: Cipher, secret: TransportSecret, chunk: int = DEFAULT_CHUNK
) -> MemoryPipe:
    """A finished pipe holding what an EncryptingSink sends for ``plaintext``."""
    pipe = MemoryPipe()
    stream = EncryptingSink(pipe, keyed(cipher, secret))
    for start in range(0, len(plaintext), chunk):
        await stream.write(plaintext[start : start + chunk])
    await stream.finish()
    return pipe


async def drain(stream: DecryptingSource, max_bytes: int = DEFAULT_CHUNK) -> bytes:
    """Everything ``stream`` returns up to its final ``b""``."""
    parts = []
    while chunk := await stream.read(max_bytes):
        assert len(chunk) <= max_bytes
        parts.append(chunk)
    return b"".join(parts)


def decrypting(wire: bytes, cipher: Cipher, secret: TransportSecret, size: int, **pipe_options):
    return DecryptingSource(MemoryPipe(wire, **pipe_options), keyed(cipher, secret), size)


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


# Known answers ------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("case", KNOWN_ANSWERS)
async def test_known_answer_encrypts_to_ciphertext_then_tag(case: str) -> None:
    cipher, key, iv, plaintext, ciphertext, tag = KNOWN_ANSWERS[case]
    pipe = await encrypt(plaintext, cipher, TransportSecret(key, iv), chunk=7)
    assert pipe.unread == ciphertext + tag
    assert pipe.finished


@pytest.mark.asyncio
@pytest.mark.parametrize("case", KNOWN_ANSWERS)
async def test_known_answer_decrypts(case: str) -> None:
    cipher, key, iv, plaintext, ciphertext, tag = KNOWN_ANSWERS[case]
    stream = decrypting(ciphertext + tag, cipher, TransportSecret(key, iv), len(plaintext))
    assert await drain(stream, max_bytes=5) == plaintext


@pytest.mark.asyncio
@pytest.mark.parametrize("cipher", CIPHERS, ids=lambda cipher: cipher.name)
@pytest.mark.parametrize("iv_size", [12, 16])
async def test_wire_equals_one_shot_aesgcm(cipher: Cipher, iv_size: int) -> None:
    secret = TransportSecret(key=random_bytes(cipher.key_size, 1), iv=random_bytes(iv_size, 2))
    plaintext = random_bytes(100_003)
    pipe = await encrypt(plaintext, cipher, secret, chunk=4093)
    wire = AESGCM(secret.key).encrypt(secret.iv, plaintext, None)
    assert pipe.unread == wire
    assert len(wire) == len(plaintext) + TAG
    assert await drain(decrypting(wire, cipher, secret, len(plaintext))) == plaintext


@pytest.mark.asyncio
async def test_aes128_with_32_bytes_of_key_material_uses_the_first_16() -> None:
    material = random_bytes(32, 3)
    iv = random_bytes(12, 4)
    plaintext = b"sent by a peer that put key and auth tag in the OMEMO key"
    wire = AESGCM(material[:16]).encrypt(iv, plaintext, None)
    stream = decrypting(wire, AES_128_GCM, TransportSecret(material, iv), len(plaintext))
    assert await drain(stream) == plaintext


# Round trips ---------------------------------------------------------------------------------

SIZES = [0, 1, 15, 16, 17, 4093, 65537, 200_003]
CHUNKS = [1, 7, 4093, 65537]


@pytest.mark.asyncio
@pytest.mark.parametrize("cipher", CIPHERS, ids=lambda cipher: cipher.name)
@pytest.mark.parametrize(
    ("size", "chunk"),
    [(s, c) for s, c in itertools.product(SIZES, CHUNKS) if s // c <= 20_000],
)
async def test_round_trip_in_odd_chunks(cipher: Cipher, size: int, chunk: int) -> None:
    secret = cipher.new_secret()
    plaintext = random_bytes(size, size)
    pipe = await encrypt(plaintext, cipher, secret, chunk=chunk)
    assert len(pipe.unread) == size + TAG
    wire = pipe.unread
    # The network splits the stream differently from how it was written.
    stream = decrypting(wire, cipher, secret, size, segments=[chunk + 3, 1, 9000])
    assert await drain(stream, max_bytes=chunk) == plaintext


@settings(max_examples=150, deadline=None)
@given(
    plaintext=st.binary(max_size=20_000),
    writes=st.lists(st.integers(1, 5000), min_size=1, max_size=8),
    segments=st.lists(st.integers(1, 5000), min_size=1, max_size=8),
    max_bytes=st.integers(1, 70_000),
    aes256=st.booleans(),
)
def test_round_trip_with_random_chunking(plaintext, writes, segments, max_bytes, aes256) -> None:
    cipher = AES_256_GCM if aes256 else AES_128_GCM
    secret = cipher.new_secret()

    async def run() -> bytes:
        pipe = MemoryPipe(segments=segments)
        sender = EncryptingSink(pipe, keyed(cipher, secret))
        position = 0
        for size in itertools.cycle(writes):
            if position >= len(plaintext):
                break
            await sender.write(plaintext[position : position + size])
            position += size
        await sender.finish()
        assert pipe.unread == AESGCM(secret.key).encrypt(secret.iv, plaintext, None)
        return await drain(DecryptingSource(pipe, keyed(cipher, secret), len(plaintext)), max_bytes)

    assert asyncio.run(run()) == plaintext


@pytest.mark.asyncio
async def test_concurrent_transfer_runs_in_constant_memory() -> None:
    """16 MiB through a pipe with back-pressure never holds more than a few chunks."""
    cipher, secret = AES_128_GCM, AES_128_GCM.new_secret()
    chunks, pipe = 256, MemoryPipe(capacity=4 * DEFAULT_CHUNK)
    source = random.Random(5)
    sent, received = hashlib.sha256(), hashlib.sha256()

    async def send() -> None:
        sender = EncryptingSink(pipe, keyed(cipher, secret))
        for _ in range(chunks):
            block = source.randbytes(DEFAULT_CHUNK)
            sent.update(block)
            await sender.write(block)
        await sender.finish()

    async def receive() -> None:
        receiver = DecryptingSource(pipe, keyed(cipher, secret), chunks * DEFAULT_CHUNK)
        while block := await receiver.read():
            received.update(block)

    tracemalloc.start()
    try:
        await asyncio.gather(send(), receive())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received.digest() == sent.digest()
    assert peak < 32 * DEFAULT_CHUNK  # 2 MiB for a 16 MiB file


# Framing: exactly size + 16 bytes, no EOF needed, nothing more read ---------------------------


@pytest.mark.asyncio
async def test_decrypting_needs_no_eof_and_reads_nothing_past_the_tag() -> None:
    secret = AES_128_GCM.new_secret()
    plaintext = random_bytes(70_000)
    trailer = b"next stream"
    wire = (await encrypt(plaintext, AES_128_GCM, secret)).unread
    # The writer never finishes, as Conversations does not until session-terminate.
    pipe = MemoryPipe(wire + trailer, eof=False, segments=[1000])
    stream = DecryptingSource(pipe, keyed(AES_128_GCM, secret), len(plaintext))
    assert await asyncio.wait_for(drain(stream), timeout=30) == plaintext
    assert pipe.unread == trailer
    assert await stream.read() == b""


@pytest.mark.asyncio
async def test_decrypting_source_checks_max_bytes_and_forwards_abort() -> None:
    pipe = MemoryPipe()
    stream = DecryptingSource(pipe, keyed(AES_128_GCM, AES_128_GCM.new_secret()), 10)
    with pytest.raises(ValueError, match="positive"):
        await stream.read(0)
    stream.abort()
    assert pipe.aborted


@pytest.mark.asyncio
async def test_decrypting_source_keeps_returning_the_end_once_verified() -> None:
    secret = AES_128_GCM.new_secret()
    wire = AESGCM(secret.key).encrypt(secret.iv, b"done", None)
    stream = decrypting(wire, AES_128_GCM, secret, 4)
    assert not isinstance(stream, ByteSink)
    assert await drain(stream) == b"done"
    assert await stream.read() == b""
    assert await stream.read() == b""


def test_decrypting_refuses_a_size_no_gcm_stream_can_have() -> None:
    secret = AES_128_GCM.new_secret()
    with pytest.raises(SecurityError, match="64 GiB"):
        DecryptingSource(MemoryPipe(), keyed(AES_128_GCM, secret), MAX_PLAINTEXT_SIZE + 1)


@pytest.mark.asyncio
async def test_encrypting_finish_sends_tag_once_and_finishes_inner() -> None:
    secret = AES_256_GCM.new_secret()
    pipe = MemoryPipe()
    stream = EncryptingSink(pipe, keyed(AES_256_GCM, secret))
    await stream.write(b"hello")
    await stream.finish()
    await stream.finish()
    assert pipe.finished
    assert pipe.unread == AESGCM(secret.key).encrypt(secret.iv, b"hello", None)
    with pytest.raises(io.UnsupportedOperation):
        await stream.write(b"more")
    assert not isinstance(stream, ByteSource)


@pytest.mark.asyncio
async def test_encrypting_abort_sends_no_tag() -> None:
    pipe = MemoryPipe()
    stream = EncryptingSink(pipe, keyed(AES_128_GCM, AES_128_GCM.new_secret()))
    await stream.write(b"partial")
    stream.abort()
    assert pipe.aborted
    assert len(pipe.unread) == len(b"partial")
    with pytest.raises(io.UnsupportedOperation):
        await stream.write(b"more")


@pytest.mark.asyncio
async def test_encrypting_splits_a_large_write_into_chunks() -> None:
    writes: list[int] = []

    class RecordingPipe(MemoryPipe):
        async def write(self, data: bytes) -> None:
            writes.append(len(data))
            await super().write(data)

    stream = EncryptingSink(RecordingPipe(), keyed(AES_128_GCM, AES_128_GCM.new_secret()))
    await stream.write(bytes(3 * ENCRYPT_CHUNK + 5))
    await stream.finish()
    assert writes == [ENCRYPT_CHUNK, ENCRYPT_CHUNK, ENCRYPT_CHUNK, 5, TAG]


# Tampering --------------------------------------------------------------------------------------


async def assert_rejected(
    wire: bytes, secret: TransportSecret, size: int, match: str, cipher: Cipher = AES_128_GCM
) -> None:
    """Reading ``wire`` raises SecurityError (before any final b""), and keeps raising."""
    stream = decrypting(wire, cipher, secret, size, eof=True, segments=[4096])
    released = 0
    with pytest.raises(SecurityError, match=match):
        while chunk := await stream.read():
            released += len(chunk)
    # The last plaintext chunk is held back with the failing tag.
    assert released < max(size, 1)
    with pytest.raises(SecurityError, match=match):
        await stream.read()


BAD_TAG = "authentication check"
SHORT = "ended after"


@pytest.fixture
def transfer() -> tuple[TransportSecret, bytes, bytes]:
    secret = AES_128_GCM.new_secret()
    plaintext = random_bytes(10_000, 7)
    return secret, plaintext, AESGCM(secret.key).encrypt(secret.iv, plaintext, None)


@pytest.mark.asyncio
@pytest.mark.parametrize("position", [0, 1, 4095, 4096, 9_999])
async def test_flipped_ciphertext_byte_is_rejected(transfer, position: int) -> None:
    secret, plaintext, wire = transfer
    tampered = bytearray(wire)
    tampered[position] ^= 0x01
    await assert_rejected(bytes(tampered), secret, len(plaintext), BAD_TAG)


@pytest.mark.asyncio
@pytest.mark.parametrize("position", range(-TAG, 0))
async def test_flipped_tag_byte_is_rejected(transfer, position: int) -> None:
    secret, plaintext, wire = transfer
    tampered = bytearray(wire)
    tampered[position] ^= 0x80
    await assert_rejected(bytes(tampered), secret, len(plaintext), BAD_TAG)


@pytest.mark.asyncio
async def test_one_byte_short_is_rejected(transfer) -> None:
    secret, plaintext, wire = transfer
    await assert_rejected(wire[:-1], secret, len(plaintext), f"{len(wire) - 1} of {len(wire)}")


@pytest.mark.asyncio
async def test_stream_cut_off_mid_file_is_rejected(transfer) -> None:
    secret, plaintext, wire = transfer
    await assert_rejected(wire[:5000], secret, len(plaintext), SHORT)


@pytest.mark.asyncio
async def test_stream_one_byte_longer_than_announced_fails_the_tag_by_itself() -> None:
    # The sender encrypted one byte more than <size/> said: the bytes read as "tag" are not one.
    secret = AES_128_GCM.new_secret()
    plaintext = random_bytes(10_001, 8)
    wire = AESGCM(secret.key).encrypt(secret.iv, plaintext, None)
    await assert_rejected(wire, secret, len(plaintext) - 1, BAD_TAG)


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [0, 1, 10_000])
async def test_empty_stream_is_rejected(size: int) -> None:
    await assert_rejected(b"", AES_128_GCM.new_secret(), size, f"0 of {size + TAG}")


@pytest.mark.asyncio
async def test_empty_file_with_wrong_tag_is_rejected() -> None:
    await assert_rejected(bytes(TAG), AES_128_GCM.new_secret(), 0, BAD_TAG)


@pytest.mark.asyncio
async def test_wrong_key_is_rejected(transfer) -> None:
    _, plaintext, wire = transfer
    await assert_rejected(wire, AES_128_GCM.new_secret(), len(plaintext), BAD_TAG)


@pytest.mark.asyncio
async def test_wrong_cipher_is_rejected(transfer) -> None:
    secret, plaintext, wire = transfer
    other = TransportSecret(key=secret.key * 2, iv=secret.iv)
    await assert_rejected(wire, other, len(plaintext), BAD_TAG, cipher=AES_256_GCM)
