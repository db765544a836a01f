"""An upload's bytes are handed to the kernel for writeback window by window as they arrive,
so the fsync at its PUT has little left to write; the blob is the same either way."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.storage import writeback
from dockyard.storage.filesystem import FilesystemBlobStore
from dockyard.storage.writeback import WINDOW, windows_done

MIB = 1024 * 1024


def test_a_window_is_done_when_an_append_reaches_its_end() -> None:
    assert windows_done(0, WINDOW - 1) == []
    assert windows_done(0, WINDOW) == [(0, WINDOW)]
    # The window's start came with an earlier append (another request, another worker).
    assert windows_done(WINDOW - MIB, WINDOW + MIB) == [(0, WINDOW)]
    assert windows_done(WINDOW, WINDOW + MIB) == []
    assert windows_done(MIB, 3 * WINDOW) == [(0, WINDOW), (WINDOW, WINDOW), (2 * WINDOW, WINDOW)]


async def _parts(size: int, piece: int) -> AsyncIterator[bytes]:
    for offset in range(0, size, piece):
        yield bytes([offset // piece % 251]) * min(piece, size - offset)


async def test_an_upload_asks_for_each_finished_window_in_two_appends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[int, int]] = []
    real = writeback._start

    def record(fd: int, offset: int, length: int, flags: int) -> int:
        asked.append((offset, length))
        return real(fd, offset, length, flags) if real is not None else 0

    monkeypatch.setattr(writeback, "_start", record)
    store = FilesystemBlobStore(tmp_path)
    first, second = 3 * WINDOW // 2, WINDOW + 3 * MIB  # 12 + 11 MiB: windows end at 8 and 16
    await store.upload_start("u")
    assert await store.upload_append("u", _parts(first, 400 * 1024)) == first
    assert asked == [(0, WINDOW)]
    assert await store.upload_append("u", _parts(second, 400 * 1024)) == first + second
    assert asked == [(0, WINDOW), (WINDOW, WINDOW)]

    data = b"".join([p async for p in _parts(first, 400 * 1024)])
    data += b"".join([p async for p in _parts(second, 400 * 1024)])
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert await store.upload_commit("u", digest) == len(data)
    assert b"".join([chunk async for chunk in store.read(digest)]) == data


def test_the_kernel_takes_the_request_for_a_file(tmp_path: Path) -> None:
    # dockyard runs on Linux: without the call, uploads would silently lose the early writeback.
    assert writeback._start is not None
    path = tmp_path / "data"
    path.write_bytes(b"x" * WINDOW)
    fd = os.open(path, os.O_WRONLY)
    try:
        assert writeback._start(fd, 0, WINDOW, writeback._SYNC_FILE_RANGE_WRITE) == 0
    finally:
        os.close(fd)
