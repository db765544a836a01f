"""The filesystem driver's upload writes: the body's pieces are written as they came (one
writev per batch, never joined), a short write is completed, and a body of many tiny pieces
stays within the system's limit of buffers per writev."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.storage.filesystem import FilesystemBlobStore


async def _parts(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def _upload(tmp_path: Path, parts: list[bytes]) -> bytes:
    store = FilesystemBlobStore(tmp_path)
    data = b"".join(parts)
    await store.upload_start("u")
    assert await store.upload_append("u", _parts(parts)) == len(data)
    assert await store.upload_commit("u", _digest(data)) == len(data)
    return b"".join([chunk async for chunk in store.read(_digest(data))])


async def test_a_short_write_is_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.writev

    def short(fd: int, buffers: list[bytes]) -> int:
        return real(fd, [buffers[0][: len(buffers[0]) // 3]])

    monkeypatch.setattr(os, "writev", short)
    parts = [os.urandom(400 * 1024), os.urandom(300 * 1024), os.urandom(500 * 1024), b"end"]
    assert await _upload(tmp_path, parts) == b"".join(parts)


async def test_many_tiny_pieces(tmp_path: Path) -> None:
    parts = [bytes([i % 256]) * 3 for i in range(5000)]
    assert await _upload(tmp_path, parts) == b"".join(parts)


async def test_a_failed_write_drops_the_hasher_and_the_upload_still_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FilesystemBlobStore(tmp_path)
    await store.upload_start("u")
    real, calls = os.writev, []

    def full_once(fd: int, buffers: list[bytes]) -> int:
        calls.append(len(buffers))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(fd, buffers)

    monkeypatch.setattr(os, "writev", full_once)
    first = [os.urandom(1024 * 1024), os.urandom(1024 * 1024), os.urandom(1024)]
    with pytest.raises(OSError):
        await store.upload_append("u", _parts(first))
    assert "u" not in store._hashers  # it may have hashed a batch the file never got
    size = await store.upload_size("u")
    assert size is not None
    rest = os.urandom(5000)
    await store.upload_append("u", _parts([rest]), offset=size)
    data = (tmp_path / "uploads" / "u" / "data").read_bytes()
    assert data.endswith(rest)
    assert await store.upload_commit("u", _digest(data)) == len(data)


async def test_a_client_gone_half_way_keeps_what_was_written(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    await store.upload_start("u")
    sent = [os.urandom(600 * 1024) for _ in range(5)]

    async def then_gone() -> AsyncIterator[bytes]:
        for part in sent:
            yield part
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.upload_append("u", then_gone())
    size = await store.upload_size("u")
    assert size is not None and size % (600 * 1024) == 0 and size >= 1024 * 1024
    assert store._hashers["u"][1] == size  # the hasher is exactly where the file is
    data = b"".join(sent)[:size] + b"rest"
    await store.upload_append("u", _parts([b"rest"]), offset=size)
    assert await store.upload_commit("u", _digest(data)) == len(data)
