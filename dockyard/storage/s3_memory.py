"""What one process remembers about the S3 uploads it handles, to save S3 round trips.

Nothing here is needed for correctness: the database row and the objects are the truth, and a
replica that never saw an upload (or restarted) reads them instead. Each entry is checked
against the row before use (a hasher by the size it has consumed, a tail by its object key).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# A tail kept in memory at most (bigger ones are read back from S3), and how many are kept.
SMALL_TAIL = 256 * 1024
_TAILS = 256
_HASHERS = 10_000
_IDS = 10_000


class _Bounded(Generic[K, V]):
    """A dict that forgets its oldest entries past `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: OrderedDict[K, V] = OrderedDict()

    def put(self, key: K, value: V) -> None:
        self.items.pop(key, None)
        self.items[key] = value
        while len(self.items) > self.limit:
            self.items.popitem(last=False)

    def get(self, key: K) -> V | None:
        return self.items.get(key)

    def pop(self, key: K) -> V | None:
        return self.items.pop(key, None)


class UploadMemory:
    def __init__(self) -> None:
        # upload id -> (sha256 hasher, bytes of the upload it has consumed)
        self._hashers: _Bounded[str, tuple[hashlib._Hash, int]] = _Bounded(_HASHERS)
        # upload id -> (tail object key, its bytes), for small tails
        self._tails: _Bounded[str, tuple[str, bytes]] = _Bounded(_TAILS)
        # uploads started here (their marker exists) and uploads committed here (all gone)
        self._started: _Bounded[str, None] = _Bounded(_IDS)
        self._committed: _Bounded[str, None] = _Bounded(_IDS)

    def hasher_at(self, upload_id: str, size: int) -> hashlib._Hash | None:
        entry = self._hashers.get(upload_id)
        return entry[0] if entry is not None and entry[1] == size else None

    def remember_hasher(self, upload_id: str, hasher: hashlib._Hash | None, size: int) -> None:
        self._hashers.pop(upload_id)
        if hasher is not None:
            self._hashers.put(upload_id, (hasher, size))

    def tail(self, upload_id: str, key: str) -> bytes | None:
        entry = self._tails.get(upload_id)
        return entry[1] if entry is not None and entry[0] == key else None

    def remember_tail(self, upload_id: str, key: str | None, data: bytes) -> None:
        self._tails.pop(upload_id)
        if key is not None and len(data) <= SMALL_TAIL:
            self._tails.put(upload_id, (key, data))

    def started(self, upload_id: str) -> None:
        self._started.put(upload_id, None)

    def was_started(self, upload_id: str) -> bool:
        return upload_id in self._started.items

    def committed(self, upload_id: str) -> None:
        self.forget(upload_id)
        self._committed.put(upload_id, None)

    def take_committed(self, upload_id: str) -> bool:
        """Whether this process committed the upload (so nothing of it is left); once."""
        if upload_id not in self._committed.items:
            return False
        self._committed.pop(upload_id)
        return True

    def forget(self, upload_id: str) -> None:
        self._hashers.pop(upload_id)
        self._tails.pop(upload_id)
        self._started.pop(upload_id)
