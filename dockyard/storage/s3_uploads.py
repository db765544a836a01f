"""Blob uploads on S3: chunks become S3 multipart parts, small chunks wait in a tail object.

S3 parts must be at least 5 MiB (except the last) and a client's PATCH may be any size, so
an upload is, at every moment, the parts sent so far plus a *tail*: the bytes after them,
fewer than one part (`PART_SIZE`), kept in the object `uploads/<id>/tail-<size>-<random>`.
An append reads the tail back, adds the request's bytes, and sends a part each time
`PART_SIZE` bytes are buffered (one part sending while the next fills); what is left becomes
the new tail. So memory per request stays under two parts, and the database row
(`s3_models.S3Upload`: multipart id, parts, tail key, size) is the whole state: the next
chunk may go to any replica, and an upload survives any replica's restart.
The row is checkpointed after every part, so a client that disconnects keeps what was sent.

Digests. hashlib's state cannot be saved between requests (and `rehash`, the PyPI package that
pickled it, refuses OpenSSL 3), so a process keeps the sha256 hasher of each upload it has seen
every byte of. At commit, when this process's hasher covers the upload, the digest is checked
before the multipart upload is completed; otherwise (chunks went to several replicas, or a
restart) the upload is completed into `uploads/<id>/data` and read back once to hash it. Then
the verified object is copied server-side to its blob key; nothing is visible before that.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator

from dockyard.storage.base import DigestMismatch, UploadOffsetMismatch
from dockyard.storage.digest import algorithm, is_valid_digest
from dockyard.storage.s3_client import S3Objects
from dockyard.storage.s3_ledger import LEASE_SECONDS, Part, UploadLedger, UploadState
from dockyard.storage.s3_memory import UploadMemory

PART_SIZE = 8 * 1024 * 1024


def _area(upload_id: str) -> str:
    if not upload_id or not all(c.isalnum() or c == "-" for c in upload_id):
        raise ValueError("invalid upload id")
    return f"uploads/{upload_id}/"


def blob_key(digest: str) -> str:
    if not is_valid_digest(digest):
        raise ValueError(f"invalid digest {digest!r}")
    alg, encoded = digest.split(":", 1)
    return f"blobs/{alg}/{encoded[:2]}/{encoded}"


class S3Uploads:
    def __init__(self, objects: S3Objects, ledger: UploadLedger) -> None:
        self.objects = objects
        self.ledger = ledger
        self.memory = UploadMemory()
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, upload_id: str) -> asyncio.Lock:
        return self._locks.setdefault(upload_id, asyncio.Lock())

    async def _tail_bytes(self, state: UploadState) -> bytes:
        if state.tail_key is None:
            return b""
        kept = self.memory.tail(state.id, state.tail_key)
        return kept if kept is not None else await self.objects.get_bytes(state.tail_key)

    # -- start, size, cancel --------------------------------------------------------------------
    async def start(self, upload_id: str) -> None:
        # An empty marker object: no database write here, because the registry starts an
        # upload inside its own open transaction (SQLite would make this one wait for it).
        await self.objects.put(_area(upload_id) + "started", b"")
        self.memory.started(upload_id)
        self.memory.remember_hasher(upload_id, hashlib.sha256(), 0)

    async def size(self, upload_id: str) -> int | None:
        try:
            area = _area(upload_id)
        except ValueError:
            return None
        state = await self.ledger.load(upload_id)
        if state is not None:
            return state.size
        return 0 if await self.objects.head(area + "started") is not None else None

    async def cancel(self, upload_id: str) -> None:
        area = _area(upload_id)
        if self.memory.take_committed(upload_id):
            return  # committed here a moment ago: nothing of it is left
        async with self._lock(upload_id):
            state = await self.ledger.load(upload_id)
            if state is not None and state.multipart_id:
                await self.objects.abort_multipart(area + "data", state.multipart_id)
            # Multipart uploads a crash left unrecorded (gc cancels such areas too).
            async for key, multipart_id, _at in self.objects.multipart_uploads(area):
                await self.objects.abort_multipart(key, multipart_id)
            await self.ledger.forget(upload_id)
            await self.objects.delete_prefix(area)
        self._forget(upload_id)

    def _forget(self, upload_id: str) -> None:
        self.memory.forget(upload_id)
        self._locks.pop(upload_id, None)

    async def iter_areas(self) -> AsyncIterator[tuple[str, float]]:
        """Every upload: rows, objects under uploads/ and unfinished multipart uploads."""
        seen: dict[str, float] = {}
        async for upload_id, at in self.ledger.iter_all():
            seen[upload_id] = at
        async for key, at in self.objects.listing("uploads/"):
            upload_id = key.split("/")[1]
            seen[upload_id] = max(at, seen.get(upload_id, 0.0))
        async for key, _mid, at in self.objects.multipart_uploads("uploads/"):
            upload_id = key.split("/")[1]
            seen[upload_id] = max(at, seen.get(upload_id, 0.0))
        for upload_id in sorted(seen):
            yield upload_id, seen[upload_id]

    # -- append -----------------------------------------------------------------------------
    async def _claimed(self, upload_id: str, offset: int | None) -> UploadState:
        """The upload's state, claimed for this writer; refused unless `offset` is its end."""
        area = _area(upload_id)
        state = await self.ledger.load(upload_id)
        if state is None:
            known = self.memory.was_started(upload_id)
            if not known and await self.objects.head(area + "started") is None:
                raise FileNotFoundError(upload_id)
            if offset not in (None, 0):
                raise UploadOffsetMismatch(f"upload is at 0, chunk starts at {offset}")
            created = await self.ledger.create_claimed(upload_id)
            if created is not None:
                return created
            state = await self.ledger.load(upload_id)  # another replica's row, or gone
            if state is None:
                raise FileNotFoundError(upload_id)
        if offset is not None and offset != state.size:
            raise UploadOffsetMismatch(f"upload is at {state.size}, chunk starts at {offset}")
        if not await self.ledger.claim(state):
            raise UploadOffsetMismatch("another request is writing this upload")
        return state

    async def append(
        self, upload_id: str, chunks: AsyncIterator[bytes], offset: int | None = None
    ) -> int:
        async with self._lock(upload_id):
            state = await self._claimed(upload_id, offset)
            old_tail = state.tail_key
            hasher = self.memory.hasher_at(upload_id, state.size)
            try:
                buffer = await self._reopen(state)
                buffer += await self._tail_bytes(state)
                await self._receive(state, buffer, chunks, hasher)
            except BaseException:
                # The hasher may have seen bytes that never reached S3.
                self.memory.remember_hasher(upload_id, None, 0)
                await self.ledger.release(state)
                raise
            self.memory.remember_hasher(upload_id, hasher, state.size)
            if old_tail and old_tail != state.tail_key:
                await self.objects.delete(old_tail)
            return state.size

    async def _receive(
        self,
        state: UploadState,
        buffer: bytearray,
        chunks: AsyncIterator[bytes],
        hasher: hashlib._Hash | None,
    ) -> None:
        """Stream `chunks` into parts, one part sending while the next one fills; whatever is
        left (or received before the client went away) becomes the tail, and is saved."""
        sending: tuple[asyncio.Task[None], bytes] | None = None
        renew_at = time.monotonic() + LEASE_SECONDS / 3
        try:
            async for chunk in chunks:
                if hasher is not None:
                    hasher.update(chunk)
                buffer += chunk
                if len(buffer) >= PART_SIZE or (sending and sending[0].done()):
                    if sending is not None:
                        await sending[0]  # at most one part in flight: memory stays bounded
                        sending = None
                        renew_at = time.monotonic() + LEASE_SECONDS / 3
                    if len(buffer) >= PART_SIZE:
                        data = bytes(buffer)
                        buffer.clear()
                        sending = (asyncio.create_task(self._send_part(state, data)), data)
                elif sending is None and time.monotonic() > renew_at:  # a slow client
                    if not await self.ledger.renew(state):
                        raise UploadOffsetMismatch("the upload was taken over by another request")
                    renew_at = time.monotonic() + LEASE_SECONDS / 3
            if sending is not None:
                await sending[0]
                sending = None
        finally:
            # Keep what arrived, even when the client disconnected half-way (or a part failed:
            # its bytes go back in front of the tail): the next chunk resumes from here, and
            # the status GET reports it.
            tail = bytes(buffer)
            if sending is not None and not await _succeeded(sending[0]):
                tail = sending[1] + tail
            await self._save_tail(state, tail)

    async def _send_part(self, state: UploadState, data: bytes) -> None:
        key = _area(state.id) + "data"
        if state.multipart_id is None:
            state.multipart_id = await self.objects.create_multipart(key)
        number = len(state.parts) + 1
        etag = await self.objects.upload_part(key, state.multipart_id, number, data)
        state.parts.append(Part(number, etag, len(data)))
        # A checkpoint after each part, of the parts alone (the bytes buffered meanwhile are not
        # in S3 yet): a crash loses at most what followed, and the lease is renewed.
        state.size, state.tail_key = state.parts_size, None
        if not await self.ledger.save(state, keep_claim=True):
            raise UploadOffsetMismatch("the upload was taken over by another request")

    async def _save_tail(self, state: UploadState, tail: bytes) -> None:
        state.size = state.parts_size + len(tail)
        state.tail_key = None
        if tail:
            # A new key each time: a key names one content, so a kept copy is never stale.
            state.tail_key = f"{_area(state.id)}tail-{state.size}-{uuid.uuid4().hex[:12]}"
            await self.objects.put(state.tail_key, tail)
        self.memory.remember_tail(state.id, state.tail_key, tail)
        if not await self.ledger.save(state):
            raise UploadOffsetMismatch("the upload was taken over by another request")

    async def _reopen(self, state: UploadState) -> bytearray:
        """An upload completed by a failed commit takes chunks again: its data object becomes
        the first part (server-side copy) or, when short, the start of the buffer."""
        if not state.completed:
            return bytearray()
        key = _area(state.id) + "data"
        state.completed = False
        state.parts = []
        state.multipart_id = None
        if state.size < PART_SIZE:
            return bytearray(await self.objects.get_bytes(key))
        state.multipart_id = await self.objects.create_multipart(key)
        number, etag = await self.objects.copy_into_part(
            key, state.size, key, state.multipart_id, 1
        )
        state.parts = [Part(number, etag, state.size)]
        return bytearray()

    # -- commit -----------------------------------------------------------------------------
    async def commit(self, upload_id: str, digest: str) -> int:
        if not is_valid_digest(digest):
            raise ValueError(f"invalid digest {digest!r}")
        async with self._lock(upload_id):
            state = await self._claimed(upload_id, None)
            try:
                size = await self._publish(state, digest)
            except BaseException:
                await self.ledger.release(state)
                raise
            await self.ledger.forget(upload_id)
            # The keys the state names (a tail a crash left unnamed goes with gc's next run).
            area = _area(upload_id)
            leftovers = [area + "started", area + "data", state.tail_key]
            await self.objects.delete_many([key for key in leftovers if key])
        self._forget(upload_id)
        self.memory.committed(upload_id)
        return size

    async def _publish(self, state: UploadState, digest: str) -> int:
        tail = await self._tail_bytes(state)
        if not state.completed and state.multipart_id is None:
            # Smaller than one part: never a multipart upload, one PUT of the verified bytes.
            _check(await asyncio.to_thread(_hash, digest, tail), digest)
            await self.objects.put(blob_key(digest), tail)
            return len(tail)
        verified = False
        hasher = self.memory.hasher_at(state.id, state.size)
        if hasher is not None and algorithm(digest) == "sha256" and not state.completed:
            # It has seen every byte, the tail's included: checked before anything changes.
            _check(f"sha256:{hasher.hexdigest()}", digest)
            verified = True
        if not state.completed:
            await self._complete(state, tail)
        if not verified:
            await self._read_back(state, digest)
        await self.objects.copy(_area(state.id) + "data", blob_key(digest), state.size)
        return state.size

    async def _complete(self, state: UploadState, tail: bytes) -> None:
        key = _area(state.id) + "data"
        assert state.multipart_id is not None
        if tail:
            number = len(state.parts) + 1
            etag = await self.objects.upload_part(key, state.multipart_id, number, tail)
            state.parts.append(Part(number, etag, len(tail)))
        await self.objects.complete_multipart(
            key, state.multipart_id, [(p.number, p.etag) for p in state.parts]
        )
        old_tail = state.tail_key
        state.completed, state.multipart_id, state.parts, state.tail_key = True, None, [], None
        if not await self.ledger.save(state, keep_claim=True):
            raise UploadOffsetMismatch("the upload was taken over by another request")
        if old_tail:
            await self.objects.delete(old_tail)

    async def _read_back(self, state: UploadState, digest: str) -> None:
        """Hash the completed data object (the final server-side pass)."""
        hasher = hashlib.new(algorithm(digest))
        async for chunk in self.objects.stream(_area(state.id) + "data"):
            await asyncio.to_thread(hasher.update, chunk)
        if hasher.name == "sha256":
            self.memory.remember_hasher(state.id, hasher.copy(), state.size)
        _check(f"{hasher.name}:{hasher.hexdigest()}", digest)


async def _succeeded(task: asyncio.Task[None]) -> bool:
    """Wait for the task; whether it finished without an error."""
    try:
        await task
    except BaseException:
        return False
    return True


def _hash(digest: str, data: bytes) -> str:
    return f"{algorithm(digest)}:{hashlib.new(algorithm(digest), data).hexdigest()}"


def _check(actual: str, digest: str) -> None:
    if actual != digest:
        raise DigestMismatch(f"content hashes to {actual}")
