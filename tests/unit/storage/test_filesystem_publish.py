"""The filesystem driver's publication of an upload: the blob appears, and the upload's folder
is gone with it (its removal runs in the publishing thread, off the event loop)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

from dockyard.storage.filesystem import FilesystemBlobStore


async def _parts(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_commit_leaves_no_upload_folder(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    data = b"layer bytes" * 1000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    await store.upload_start("u-1")
    await store.upload_append("u-1", _parts(data[:5000], data[5000:]))
    assert await store.upload_commit("u-1", digest) == len(data)
    assert (tmp_path / "blobs" / "sha256" / digest[7:9] / digest[7:]).read_bytes() == data
    assert list((tmp_path / "uploads").iterdir()) == []


async def test_commit_removes_a_folder_holding_something_else(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    digest = "sha256:" + hashlib.sha256(b"x").hexdigest()
    await store.upload_start("u-2")
    await store.upload_append("u-2", _parts(b"x"))
    (tmp_path / "uploads" / "u-2" / "stray").write_bytes(b"left by an older version")
    await store.upload_commit("u-2", digest)
    assert await store.stat(digest) == 1
    assert list((tmp_path / "uploads").iterdir()) == []
