"""Password hashing (argon2id) and a short-lived cache of successful checks.

argon2 is deliberately slow (tens of milliseconds); registry clients send Basic credentials
on every request, so a verified (name, secret) pair is remembered briefly, keyed by a
sha256 of both, never the secret itself.
"""

from __future__ import annotations

import hashlib
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
_CACHE_SECONDS = 60.0
_CACHE_MAX = 4096
_verified: dict[str, tuple[float, str]] = {}


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    key = hashlib.sha256(f"{password_hash}\0{password}".encode()).hexdigest()
    hit = _verified.get(key)
    now = time.monotonic()
    if hit is not None and hit[0] > now and hit[1] == password_hash:
        return True
    try:
        _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if len(_verified) >= _CACHE_MAX:
        _verified.clear()
    _verified[key] = (now + _CACHE_SECONDS, password_hash)
    return True
