"""Digest parsing and hashing (OCI `algorithm:encoded`). Pure; no I/O."""

from __future__ import annotations

import hashlib
import re

DIGEST_RE = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")


def is_valid_digest(value: str) -> bool:
    return bool(DIGEST_RE.fullmatch(value))


def algorithm(digest: str) -> str:
    return digest.split(":", 1)[0]


def new_hasher(digest: str) -> hashlib._Hash:
    return hashlib.new(algorithm(digest))


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
