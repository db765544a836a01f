"""BlobStore contract for the filesystem, memory and S3 drivers (S3 on a local moto server):
streaming uploads, offsets, digest verification before visibility, atomic publication,
resumption after a restart."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.storage.base import BlobStore, DigestMismatch, UploadOffsetMismatch
from dockyard.storage.filesystem import FilesystemBlobStore
from dockyard.storage.memory import MemoryBlobStore
from tests.unit.storage.conftest import S3StoreFactory


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.fixture(params=["filesystem", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "filesystem":
        return FilesystemBlobStore(tmp_path / "storage")
    if request.param == "s3":
        factory: S3StoreFactory = request.getfixturevalue("s3_stores")
        return factory()
    return MemoryBlobStore()


async def read_all(store: BlobStore, digest: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.read(digest, start, end)])


async def test_chunked_upload_then_commit(store: BlobStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    await store.upload_start("u1")
    size = await store.upload_append("u1", stream(data[:1000]))
    assert size == 1000
    size = await store.upload_append("u1", stream(data[1000:2_000_000], data[2_000_000:]), 1000)
    assert size == len(data)
    assert await store.stat(digest_of(data)) is None  # not visible before commit
    assert await store.upload_commit("u1", digest_of(data)) == len(data)
    assert await store.stat(digest_of(data)) == len(data)
    assert await read_all(store, digest_of(data)) == data
    assert await read_all(store, digest_of(data), 10, 19) == data[10:20]
    assert await store.upload_size("u1") is None
    assert [d async for d in store.iter_digests()] == [digest_of(data)]


async def test_offset_mismatch_refused(store: BlobStore) -> None:
    await store.upload_start("u2")
    await store.upload_append("u2", stream(b"abc"))
    with pytest.raises(UploadOffsetMismatch):
        await store.upload_append("u2", stream(b"def"), 5)
    assert await store.upload_size("u2") == 3


async def test_offset_past_an_empty_upload_refused(store: BlobStore) -> None:
    await store.upload_start("u6")
    with pytest.raises(UploadOffsetMismatch):
        await store.upload_append("u6", stream(b"abc"), 3)
    assert await store.upload_size("u6") == 0
    assert await store.upload_append("u6", stream(b"abc"), 0) == 3


async def test_wrong_digest_leaves_nothing_visible(store: BlobStore) -> None:
    await store.upload_start("u3")
    await store.upload_append("u3", stream(b"hello"))
    wrong = digest_of(b"other")
    with pytest.raises(DigestMismatch):
        await store.upload_commit("u3", wrong)
    assert await store.stat(wrong) is None
    assert await store.stat(digest_of(b"hello")) is None
    # The upload is still there: the client may fix the digest.
    assert await store.upload_size("u3") == 5
    await store.upload_cancel("u3")
    assert await store.upload_size("u3") is None


async def test_put_and_delete(store: BlobStore) -> None:
    digest = await store.put(b"{}")
    assert digest == digest_of(b"{}")
    assert await store.stat(digest) == 2
    assert await store.modified_at(digest) is not None
    await store.delete(digest)
    assert await store.stat(digest) is None


async def test_sha512_commit(store: BlobStore) -> None:
    await store.upload_start("u4")
    await store.upload_append("u4", stream(b"data"))
    digest = "sha512:" + hashlib.sha512(b"data").hexdigest()
    assert await store.upload_commit("u4", digest) == 4
    assert await read_all(store, digest) == b"data"


async def test_filesystem_resumes_after_restart(tmp_path: Path) -> None:
    first = FilesystemBlobStore(tmp_path / "s")
    await first.upload_start("abc-1")
    await first.upload_append("abc-1", stream(b"part one, "))
    # A new process (restart, or another worker) continues the same upload.
    second = FilesystemBlobStore(tmp_path / "s")
    assert await second.upload_size("abc-1") == 10
    await second.upload_append("abc-1", stream(b"part two"), 10)
    # The first process's hasher is stale; it must catch up, not give a wrong digest.
    await first.upload_append("abc-1", stream(b"!"), 18)
    data = b"part one, part two!"
    assert await first.upload_commit("abc-1", digest_of(data)) == len(data)
    assert first.local_path(digest_of(data)) is not None


async def test_filesystem_publication_is_atomic(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "s")
    await store.upload_start("u5")
    await store.upload_append("u5", stream(b"x" * 100))
    # Before commit, nothing lives under blobs/ (only whole, verified files are ever renamed in).
    assert not [p for p in (tmp_path / "s" / "blobs").rglob("*") if p.is_file()]
    await store.upload_commit("u5", digest_of(b"x" * 100))
    files = [p for p in (tmp_path / "s" / "blobs").rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].read_bytes() == b"x" * 100
    assert not list((tmp_path / "s" / "tmp").iterdir())


async def test_filesystem_rejects_bad_names(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "s")
    with pytest.raises(ValueError):
        await store.upload_start("../evil")
    assert await store.stat("sha256:../../etc/passwd") is None
    assert store.local_path("sha256:../x") is None


async def test_empty_blob(store: BlobStore) -> None:
    await store.upload_start("u7")
    assert await store.upload_commit("u7", digest_of(b"")) == 0
    assert await store.stat(digest_of(b"")) == 0
    assert await read_all(store, digest_of(b"")) == b""
