"""The filesystem driver's blob reads: pieces from the page cache on the event loop, from a
thread when the cache does not hold them (or the system cannot tell), the same bytes either
way, for the whole blob and for ranges that cross piece boundaries."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from dockyard.storage import filesystem
from dockyard.storage.filesystem import FilesystemBlobStore

DATA = os.urandom(3 * filesystem._SEND_CHUNK + 12345)
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


async def _store(tmp_path: Path) -> FilesystemBlobStore:
    store = FilesystemBlobStore(tmp_path)
    assert await store.put(DATA) == DIGEST
    return store


async def _read(store: FilesystemBlobStore, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.read(DIGEST, start, end)])


def _no_cache(fd: int, buffers: list[bytearray], offset: int, flags: int) -> int:
    raise BlockingIOError


@pytest.mark.parametrize("source", ["page cache", "thread", "no RWF_NOWAIT"])
async def test_reads_give_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    store = await _store(tmp_path)
    if source == "thread":
        monkeypatch.setattr(os, "preadv", _no_cache)
    elif source == "no RWF_NOWAIT":
        monkeypatch.setattr(filesystem, "_NOWAIT", None)
    assert await _read(store) == DATA
    piece = filesystem._SEND_CHUNK
    for start, end in [(0, 0), (piece - 1, piece), (5, 2 * piece + 7), (len(DATA) - 1, None)]:
        stop = len(DATA) if end is None else end + 1
        assert await _read(store, start, end) == DATA[start:stop], (start, end)


async def test_a_short_cached_read_continues_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page cache may hold only the start of a piece: the next piece starts after it."""
    store = await _store(tmp_path)
    real = os.preadv

    def half(fd: int, buffers: list[bytearray], offset: int, flags: int) -> int:
        got = real(fd, [memoryview(buffers[0])[: len(buffers[0]) // 2]], offset, flags)
        return got

    monkeypatch.setattr(os, "preadv", half)
    assert await _read(store) == DATA
    assert (
        await _read(store, 100, 2 * filesystem._SEND_CHUNK)
        == DATA[100 : 2 * filesystem._SEND_CHUNK + 1]
    )
