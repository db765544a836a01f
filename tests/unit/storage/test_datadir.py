"""The data folder is made private: 0700 for it and its folders, 0600 for its files, the SQLite
database (and its WAL) wherever it lives; symlinks are left alone."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dockyard.storage.datadir import PRIVATE_UMASK, make_private, sqlite_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_make_private_repairs_an_old_world_readable_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "blobs" / "sha256").mkdir(parents=True)
    for folder in (data, data / "blobs"):
        folder.chmod(0o755)
    (data / "secret_key").write_text("k")
    (data / "secret_key").chmod(0o644)
    elsewhere = tmp_path / "db"
    elsewhere.mkdir()
    database = elsewhere / "dockyard.db"
    for path in (database, elsewhere / "dockyard.db-wal"):
        path.write_text("")
        path.chmod(0o664)
    target = tmp_path / "shared.txt"
    target.write_text("")
    target.chmod(0o644)
    (data / "link").symlink_to(target)

    make_private(data, f"sqlite+aiosqlite:///{database}")

    assert _mode(data) == 0o700
    assert _mode(data / "blobs") == 0o700
    assert _mode(data / "secret_key") == 0o600
    assert _mode(database) == 0o600
    assert _mode(elsewhere / "dockyard.db-wal") == 0o600
    assert _mode(target) == 0o644  # reached through a symlink: not ours to change


def test_make_private_creates_a_missing_folder_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        make_private(tmp_path / "new" / "data")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "new" / "data") == 0o700
    assert PRIVATE_UMASK == 0o077


def test_sqlite_file_of_a_url() -> None:
    assert sqlite_file("sqlite+aiosqlite:////srv/d/dockyard.db") == Path("/srv/d/dockyard.db")
    assert sqlite_file("postgresql+asyncpg://u@db/dockyard") is None
    assert sqlite_file("sqlite+aiosqlite://") is None
    assert sqlite_file("not a url") is None
