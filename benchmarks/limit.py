"""The limit: a plain two-process loopback copy doing what a transfer does, nothing more.

``python -m benchmarks.limit receive --port 0 --dir D [--crypto]`` prints ``{"ready": port}``,
takes one connection and prints ``{"seconds": ..., "bytes": ...}``;
``python -m benchmarks.limit send --port P --file F [--crypto]`` sends the file.

Both ends SHA-256 the plaintext, as every transfer does. With ``--crypto`` the sender
AES-128-GCM encrypts and appends the tag, the receiver decrypts and checks it (a fixed key:
the envelope is not part of the limit). The receiver writes a temporary file, fsyncs it,
renames it and fsyncs the directory. Blocking calls, one thread: the simplest program that
does the work.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CHUNK = 256 * 1024
TAG = 16
KEY = bytes(range(16))
IV = bytes(range(12))


def send(port: int, path: Path, crypto: bool) -> None:
    hasher = hashlib.sha256()
    encryptor = Cipher(algorithms.AES(KEY), modes.GCM(IV)).encryptor() if crypto else None
    with socket.create_connection(("127.0.0.1", port)) as connection, path.open("rb") as source:
        while chunk := source.read(CHUNK):
            hasher.update(chunk)
            connection.sendall(encryptor.update(chunk) if encryptor else chunk)
        if encryptor is not None:
            encryptor.finalize()
            connection.sendall(encryptor.tag)
        connection.shutdown(socket.SHUT_WR)
        connection.recv(1)


def receive(port: int, directory: Path, crypto: bool) -> None:
    with socket.create_server(("127.0.0.1", port)) as server:
        print(json.dumps({"ready": server.getsockname()[1]}), flush=True)
        connection, _ = server.accept()
    start = time.perf_counter()
    hasher = hashlib.sha256()
    decryptor = Cipher(algorithms.AES(KEY), modes.GCM(IV)).decryptor() if crypto else None
    held = b""
    temporary = directory / ".limit.part"
    with connection, temporary.open("wb") as out:
        while data := connection.recv(CHUNK):
            if decryptor is not None:
                data = held + data
                data, held = data[:-TAG], data[-TAG:]
                data = decryptor.update(data)
            hasher.update(data)
            out.write(data)
        if decryptor is not None:
            decryptor.finalize_with_tag(held)
        out.flush()
        os.fsync(out.fileno())
        size = out.tell()
        temporary.rename(directory / "limit.bin")
        sync_directory(directory)
        connection.sendall(b"k")
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "bytes": size, "sha256": hasher.hexdigest()}), flush=True)


def sync_directory(directory: Path) -> None:
    """Make the rename durable, as a transfer's commit does."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["send", "receive"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--file", type=Path)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--crypto", action="store_true")
    options = parser.parse_args()
    if options.role == "send":
        send(options.port, options.file, options.crypto)
    else:
        receive(options.port, options.dir, options.crypto)


if __name__ == "__main__":
    main()
