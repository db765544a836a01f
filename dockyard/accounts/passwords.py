"""Password hashing (argon2id) and a short-lived cache of successful checks.

argon2 is deliberately slow (tens of milliseconds); registry clients send Basic credentials
on every request, so a verified (name, secret) pair is remembered briefly, keyed by a
sha256 of both, never the secret itself.

New hashes use one of OWASP's equivalent minimum argon2id configurations, m=7 MiB, t=5, p=1,
instead of argon2-cffi's default (m=64 MiB, t=3, p=4): every verification allocates
memory_cost, and with the default that was the largest transient allocation of an HTTP worker
(+64 MiB RSS on each uncached Basic check, far more than streaming a 512 MiB blob upload).
The low-memory variant costs about the same CPU time (~45 ms here, against ~550 ms for the
default). Existing hashes carry their own parameters and still verify.
"""

from __future__ import annotations

import asyncio
import hashlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dockyard.kit.cache import ExpiringCache

_hasher = PasswordHasher(time_cost=5, memory_cost=7 * 1024, parallelism=1)
# sha256(hash, secret) -> the hash it was verified against; the least recently used leave
# first when full.
_verified: ExpiringCache[str, str] = ExpiringCache(maxsize=4096, ttl=60.0)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _cache_key(password_hash: str, password: str) -> str:
    return hashlib.sha256(f"{password_hash}\0{password}".encode()).hexdigest()


def _cached(key: str, password_hash: str) -> bool:
    return _verified.get(key) == password_hash


def verify_password(password_hash: str, password: str) -> bool:
    key = _cache_key(password_hash, password)
    if _cached(key, password_hash):
        return True
    try:
        _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    _verified.put(key, password_hash)
    return True


async def hash_password_async(password: str) -> str:
    """hash_password off the event loop: argon2 takes long enough to stall other requests."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str, password: str) -> bool:
    if _cached(_cache_key(password_hash, password), password_hash):
        return True  # the common case (a client re-sending Basic credentials) needs no thread
    return await asyncio.to_thread(verify_password, password_hash, password)
