"""Digest validation and hashing."""

from __future__ import annotations

import pytest

from dockyard.storage.digest import algorithm, is_valid_digest, new_hasher, sha256_digest


@pytest.mark.parametrize(
    "value",
    ["sha256:" + "0" * 64, "sha512:" + "f" * 128],
)
def test_valid(value: str) -> None:
    assert is_valid_digest(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sha256:",
        "sha256:" + "0" * 63,
        "sha256:" + "G" * 64,
        "SHA256:" + "0" * 64,
        "md5:" + "0" * 32,
        "sha256:" + "0" * 64 + "\n",
        "sha256:../../" + "0" * 58,
        "sha512:" + "f" * 64,
    ],
)
def test_invalid(value: str) -> None:
    assert not is_valid_digest(value)


def test_hashing() -> None:
    assert sha256_digest(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert algorithm("sha512:" + "f" * 128) == "sha512"
    assert new_hasher("sha512:" + "f" * 128).name == "sha512"
