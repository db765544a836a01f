"""Password hashing: low-memory argon2id parameters for new hashes, old hashes still verify."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.low_level import Type

from dockyard.accounts.passwords import hash_password, verify_password, verify_password_async


def test_new_hashes_use_the_low_memory_owasp_parameters() -> None:
    encoded = hash_password("s3cret")
    assert encoded.startswith("$argon2id$")
    assert "m=7168,t=5,p=1" in encoded
    assert verify_password(encoded, "s3cret")
    assert not verify_password(encoded, "wrong")


def test_hashes_made_with_the_argon2_cffi_defaults_still_verify() -> None:
    old = PasswordHasher(type=Type.ID).hash("legacy")  # m=64 MiB, the previous parameters
    assert "m=65536" in old
    assert verify_password(old, "legacy")
    assert not verify_password(old, "not-it")
    assert asyncio.run(verify_password_async(old, "legacy"))


def test_a_malformed_hash_does_not_verify() -> None:
    assert not verify_password("not-a-hash", "anything")
