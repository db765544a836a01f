"""Whether an exception means the blob store could not be reached, not that the code is wrong.

An object store (S3, MinIO, Ceph RGW) can be down, unreachable or refuse the registry's
credentials; the client then gets 503 STORAGE_UNAVAILABLE and may retry, instead of a 500. The
check reads exception types by their module, so a registry on the filesystem driver never
imports the S3 client to answer it.
"""

from __future__ import annotations

_OBJECT_STORE_CLIENTS = ("botocore", "aiobotocore")
_NETWORK_ERRORS_WHILE_STORING = ("aiohttp",)


def is_storage_outage(exc: BaseException) -> bool:
    """True when `exc`, or an exception it was raised from, comes from the object store client
    (or the HTTP client under it, while the store was being talked to)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    store_seen = False
    network_seen = False
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        package = type(current).__module__.split(".", 1)[0]
        store_seen = store_seen or package in _OBJECT_STORE_CLIENTS
        network_seen = network_seen or package in _NETWORK_ERRORS_WHILE_STORING
        current = current.__cause__ or current.__context__
    return store_seen or (network_seen and _raised_in_storage(exc))


def _raised_in_storage(exc: BaseException) -> bool:
    """An HTTP client error counts as a storage outage only when the storage package raised it
    (webhook deliveries and mirroring use the same client and answer their own errors)."""
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_globals.get("__name__", "").startswith("dockyard.storage."):
            return True
        frame = frame.tb_next
    return False
