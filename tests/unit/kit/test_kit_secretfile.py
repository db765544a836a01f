"""dockyard.kit.secretfile: a secret is written once, privately, and the first one wins."""

from __future__ import annotations

import stat
from pathlib import Path

from dockyard.kit.secretfile import read_or_create


def test_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret"
    assert read_or_create(path, lambda: b"first") == b"first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_or_create(path, lambda: b"second") == b"first"
    assert [p.name for p in path.parent.iterdir()] == ["secret"]  # no temporary file left


def test_an_existing_file_is_kept_when_a_racing_writer_loses(tmp_path: Path) -> None:
    path = tmp_path / "secret"

    def make() -> bytes:
        path.write_bytes(b"theirs")  # another process links its file first
        return b"mine"

    assert read_or_create(path, make) == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]
