"""The S3 driver beyond the shared contract, on a local moto server: multipart parts from small
chunks, an upload continued by another replica (and after a restart), the read-back digest
pass, a claim held by another writer, a client gone mid-chunk, gc's listing of upload areas,
presigned blob URLs."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import update

from dockyard.storage.base import DigestMismatch, UploadOffsetMismatch
from dockyard.storage.s3 import S3BlobStore
from dockyard.storage.s3_client import S3Config
from dockyard.storage.s3_models import S3Upload
from dockyard.storage.s3_uploads import PART_SIZE
from tests.unit.storage.conftest import S3StoreFactory

MIB = 1024 * 1024


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def stream(data: bytes, piece: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


async def read_all(store: S3BlobStore, digest: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(digest)])


async def area_keys(store: S3BlobStore, upload_id: str) -> list[str]:
    return [key async for key, _ in store.objects.listing(f"uploads/{upload_id}/")]


async def test_small_chunks_become_parts_of_at_least_five_mib(s3_stores: S3StoreFactory) -> None:
    store = s3_stores()
    data = os.urandom(PART_SIZE * 2 + 3 * MIB)
    await store.upload_start("up-1")
    offset = 0
    for size in (MIB, 2 * MIB, 3 * MIB, 5 * MIB, 7 * MIB, 2 * MIB, len(data)):
        chunk = data[offset : offset + size]
        if not chunk:
            break
        offset = await store.upload_append("up-1", stream(chunk), offset)
    assert offset == len(data)
    state = await store.uploads.ledger.load("up-1")
    assert state is not None and state.multipart_id is not None
    assert [p.size for p in state.parts] and all(p.size >= 5 * MIB for p in state.parts)
    assert state.parts_size + state.tail_size == len(data)
    assert await store.upload_commit("up-1", digest_of(data)) == len(data)
    assert await read_all(store, digest_of(data)) == data
    # Nothing of the upload is left: no row, no objects, no unfinished multipart upload.
    assert await store.uploads.ledger.load("up-1") is None
    assert await area_keys(store, "up-1") == []
    assert [u async for u in store.objects.multipart_uploads("uploads/")] == []


async def test_chunks_alternate_between_replicas(s3_stores: S3StoreFactory) -> None:
    a, b = s3_stores(), s3_stores()
    data = os.urandom(PART_SIZE * 2 + 12345)
    await a.upload_start("up-2")
    offset = 0
    for number, start in enumerate(range(0, len(data), 3 * MIB)):
        replica = a if number % 2 == 0 else b
        chunk = data[start : start + 3 * MIB]
        assert await replica.upload_size("up-2") == offset
        offset = await replica.upload_append("up-2", stream(chunk), offset)
    # Neither replica saw every byte: the commit hashes the completed object once (read-back).
    assert await b.upload_commit("up-2", digest_of(data)) == len(data)
    assert await read_all(a, digest_of(data)) == data


async def test_upload_survives_a_restart(s3_stores: S3StoreFactory) -> None:
    first = s3_stores()
    data = os.urandom(PART_SIZE + 4 * MIB)
    await first.upload_start("up-3")
    await first.upload_append("up-3", stream(data[: PART_SIZE + MIB]))
    await first.close()
    again = s3_stores()  # a new process: nothing in memory
    assert await again.upload_size("up-3") == PART_SIZE + MIB
    await again.upload_append("up-3", stream(data[PART_SIZE + MIB :]), PART_SIZE + MIB)
    assert await again.upload_commit("up-3", digest_of(data)) == len(data)
    assert await read_all(again, digest_of(data)) == data


async def test_read_back_mismatch_keeps_the_upload(s3_stores: S3StoreFactory) -> None:
    a, b = s3_stores(), s3_stores()
    data = os.urandom(PART_SIZE + MIB)
    await a.upload_start("up-4")
    await a.upload_append("up-4", stream(data[:MIB]))
    await b.upload_append("up-4", stream(data[MIB:]), MIB)
    with pytest.raises(DigestMismatch):
        await a.upload_commit("up-4", digest_of(b"something else"))
    assert await a.stat(digest_of(b"something else")) is None
    assert await a.stat(digest_of(data)) is None
    assert await b.upload_size("up-4") == len(data)
    # The client sends one more chunk (the upload was completed by the failed commit: it
    # becomes a part again), then the right digest.
    more = data + os.urandom(1000)
    await b.upload_append("up-4", stream(more[len(data) :]), len(data))
    assert await a.upload_commit("up-4", digest_of(more)) == len(more)
    assert await read_all(b, digest_of(more)) == more


async def test_a_writer_holding_the_upload_blocks_others_until_its_lease_ends(
    s3_stores: S3StoreFactory,
) -> None:
    a, b = s3_stores(), s3_stores()
    await a.upload_start("up-5")
    await a.upload_append("up-5", stream(b"abc"))
    state = await a.uploads.ledger.load("up-5")
    assert state is not None and await a.uploads.ledger.claim(state)
    with pytest.raises(UploadOffsetMismatch):
        await b.upload_append("up-5", stream(b"def"), 3)
    await a.uploads.ledger.release(state)
    assert await b.upload_append("up-5", stream(b"def"), 3) == 6
    # A writer that died holding the upload: once its lease is over, another takes it.
    state = await a.uploads.ledger.load("up-5")
    assert state is not None and await a.uploads.ledger.claim(state)
    async with a.uploads.ledger._sessionmaker() as session:
        await session.execute(update(S3Upload).values(busy_until=time.time() - 1))
        await session.commit()
    assert await b.upload_append("up-5", stream(b"ghi"), 6) == 9
    assert await b.upload_commit("up-5", digest_of(b"abcdefghi")) == 9


async def test_client_gone_mid_chunk_keeps_what_arrived(s3_stores: S3StoreFactory) -> None:
    store = s3_stores()
    data = os.urandom(PART_SIZE + 2 * MIB)

    async def broken() -> AsyncIterator[bytes]:
        async for chunk in stream(data):
            yield chunk
        raise ConnectionResetError("client went away")

    await store.upload_start("up-6")
    with pytest.raises(ConnectionResetError):
        await store.upload_append("up-6", broken())
    assert await store.upload_size("up-6") == len(data)
    assert await store.upload_commit("up-6", digest_of(data)) == len(data)


async def test_gc_sees_and_cancels_every_upload_area(s3_stores: S3StoreFactory) -> None:
    store = s3_stores()
    await store.upload_start("empty")
    await store.upload_start("big")
    await store.upload_append("big", stream(os.urandom(PART_SIZE + 10)))
    # A multipart upload a crash left without a row.
    orphan = await store.objects.create_multipart("uploads/orphan/data")
    areas = dict([u async for u in store.iter_uploads()])
    assert set(areas) == {"empty", "big", "orphan"} and all(at > 0 for at in areas.values())
    for upload_id in areas:
        await store.upload_cancel(upload_id)
    assert [u async for u in store.iter_uploads()] == []
    assert [u async for u in store.objects.multipart_uploads("uploads/")] == []
    assert orphan
    assert await store.upload_size("big") is None


async def test_blob_listing_and_delete(s3_stores: S3StoreFactory) -> None:
    store = s3_stores()
    digests = {await store.put(f"blob {n}".encode()) for n in range(3)}
    assert {d async for d in store.iter_digests()} == digests
    for digest in digests:
        await store.delete(digest)
    assert [d async for d in store.iter_digests()] == []


async def test_presigned_redirect(s3_stores: S3StoreFactory) -> None:
    store = s3_stores()
    assert await store.redirect_url(await store.put(b"x")) is None  # off by default
    redirecting = S3BlobStore(
        S3Config(**{**store.config.__dict__, "redirect": True}), store.uploads.ledger._sessionmaker
    )
    try:
        digest = await redirecting.put(b"presigned bytes")
        url = await redirecting.redirect_url(digest)
        assert url is not None and "Signature" in url
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        assert response.status_code == 200 and response.content == b"presigned bytes"
    finally:
        await redirecting.close()


async def test_a_part_that_fails_keeps_its_bytes(
    s3_stores: S3StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = s3_stores()
    data = os.urandom(3 * PART_SIZE + MIB)
    real_upload_part = store.objects.upload_part
    calls = 0

    async def flaky(key: str, upload_id: str, number: int, body: bytes) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("the object store went away")
        return await real_upload_part(key, upload_id, number, body)

    monkeypatch.setattr(store.objects, "upload_part", flaky)
    await store.upload_start("up-7")
    with pytest.raises(ConnectionError):
        await store.upload_append("up-7", stream(data))
    # The first part is in S3, the failed one's bytes (and any after it) are in the tail.
    kept = await store.upload_size("up-7")
    assert kept is not None and PART_SIZE < kept <= len(data)
    await store.upload_append("up-7", stream(data[kept:]), kept)
    assert await store.upload_commit("up-7", digest_of(data)) == len(data)
    assert await read_all(store, digest_of(data)) == data


async def test_small_upload_leaves_nothing_behind(s3_stores: S3StoreFactory) -> None:
    a, b = s3_stores(), s3_stores()
    await a.upload_start("up-8")
    await a.upload_append("up-8", stream(b"small "))
    await a.upload_append("up-8", stream(b"blob"), 6)
    # Another replica commits: it has neither the hasher nor the tail in memory.
    assert await b.upload_commit("up-8", digest_of(b"small blob")) == 10
    await b.upload_cancel("up-8")  # as the registry does after a monolithic upload
    await a.upload_cancel("up-8")
    assert await area_keys(a, "up-8") == [] and await a.uploads.ledger.load("up-8") is None
    assert await read_all(a, digest_of(b"small blob")) == b"small blob"
    assert [k async for k, _ in a.objects.listing("")] == [
        "blobs/sha256/" + digest_of(b"small blob")[7:9] + "/" + digest_of(b"small blob")[7:]
    ]
