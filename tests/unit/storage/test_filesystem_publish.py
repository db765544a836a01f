"""The filesystem driver's publication of an upload: the blob appears, and the upload's folder
is gone with it (its removal runs in the publishing thread, off the event loop)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.storage import filesystem, upload_bodies
from dockyard.storage.base import DigestMismatch
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


async def test_commit_in_another_process_hashes_what_it_did_not_see(tmp_path: Path) -> None:
    # Two stores on one root stand for two worker processes: the chunks reach one, the PUT
    # the other, which has no hasher for the upload (or one behind the file).
    chunks, commits = FilesystemBlobStore(tmp_path), FilesystemBlobStore(tmp_path)
    data = b"0123456789abcdef" * 4096
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    await chunks.upload_start("u-3")
    await chunks.upload_append("u-3", _parts(data[:1000]))
    await commits.upload_append("u-3", _parts(data[1000:2000]))  # its hasher stops at 2000
    await chunks.upload_append("u-3", _parts(data[2000:]))
    assert await commits.upload_commit("u-3", digest) == len(data)
    assert await commits.stat(digest) == len(data)
    assert list((tmp_path / "uploads").iterdir()) == []


async def test_a_mismatch_publishes_nothing_and_a_right_digest_then_does(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    data = b"layer" * 100
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    wrong = "sha256:" + hashlib.sha256(b"other").hexdigest()
    await store.upload_start("u-4")
    await store.upload_append("u-4", _parts(data))
    with pytest.raises(DigestMismatch):
        await store.upload_commit("u-4", wrong)
    assert await store.stat(wrong) is None
    assert await store.upload_size("u-4") == len(data)
    # A fresh store (another process) and the first one both verify from the file's bytes.
    assert await FilesystemBlobStore(tmp_path).upload_size("u-4") == len(data)
    assert await store.upload_commit("u-4", digest) == len(data)
    assert await store.stat(digest) == len(data)


async def test_commit_of_an_unknown_upload(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    with pytest.raises(FileNotFoundError):
        await store.upload_commit("u-5", "sha256:" + "0" * 64)


async def test_a_process_that_only_took_chunks_keeps_a_bounded_few(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The chunks reach one process and every commit another: the first never hears that its
    # uploads are done, so it keeps at most the newest hashers and no lock once idle.
    monkeypatch.setattr(filesystem, "_HASHERS_KEPT", 3)
    chunks, commits = FilesystemBlobStore(tmp_path), FilesystemBlobStore(tmp_path)
    for n in range(6):
        data = b"layer %d" % n
        await chunks.upload_start(f"u-{n}")
        await chunks.upload_append(f"u-{n}", _parts(data))
        await commits.upload_commit(f"u-{n}", "sha256:" + hashlib.sha256(data).hexdigest())
    assert list(chunks._hashers) == ["u-3", "u-4", "u-5"]
    assert chunks._locks == {} and commits._locks == {} and commits._hashers == {}
    # A dropped hasher costs only a hash from the file: the upload still verifies.
    await chunks.upload_start("u-6")
    await chunks.upload_append("u-6", _parts(b"first "))
    for n in range(7, 10):
        await chunks.upload_start(f"u-{n}")
    assert "u-6" not in chunks._hashers
    await chunks.upload_append("u-6", _parts(b"second"))
    digest = "sha256:" + hashlib.sha256(b"first second").hexdigest()
    assert await chunks.upload_commit("u-6", digest) == len(b"first second")


async def test_a_commit_in_another_process_trusts_the_digest_the_appends_noted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunks, commits = FilesystemBlobStore(tmp_path), FilesystemBlobStore(tmp_path)
    data = bytes(range(256)) * 8192  # 2 MiB: past the size where a note is left
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    await chunks.upload_start("u-7")
    await chunks.upload_append("u-7", _parts(data[:700_000], data[700_000:]))

    def no_hashing(*_args: object) -> None:
        raise AssertionError("the upload was hashed again")

    monkeypatch.setattr(filesystem, "_hash_file", no_hashing)
    assert await commits.upload_commit("u-7", digest) == len(data)
    assert await commits.stat(digest) == len(data)
    assert list((tmp_path / "uploads").iterdir()) == []


async def test_a_stale_note_or_one_naming_another_digest_is_checked_against_the_file(
    tmp_path: Path,
) -> None:
    chunks, commits = FilesystemBlobStore(tmp_path), FilesystemBlobStore(tmp_path)
    big = b"a" * (1024 * 1024)
    await chunks.upload_start("u-8")
    await chunks.upload_append("u-8", _parts(big))
    await chunks.upload_append("u-8", _parts(b"tail"))  # small: the note still says 1 MiB
    data = big + b"tail"
    wrong = "sha256:" + hashlib.sha256(big).hexdigest()  # what the stale note says
    with pytest.raises(DigestMismatch):
        await commits.upload_commit("u-8", wrong)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    # A current note that names another digest than the PUT's: the file decides.
    note = tmp_path / "uploads" / "u-8" / upload_bodies.DIGEST_NOTE
    mtime_ns = (tmp_path / "uploads" / "u-8" / "data").stat().st_mtime_ns
    note.write_text(f"{len(data)} {mtime_ns} " + "0" * 64)
    assert await FilesystemBlobStore(tmp_path).upload_commit("u-8", digest) == len(data)
    assert await commits.stat(digest) == len(data)
