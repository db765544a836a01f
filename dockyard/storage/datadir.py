"""Keep the data folder private to the account dockyard runs as.

The folder holds the database, the blobs (private images), uploads in progress, the session
and token signing keys: nobody else on the machine may read any of it. `PRIVATE_UMASK` makes
everything created from now on 0600/0700; `make_private` repairs what an older version (or
another tool) created readable by others. It chmods the folder itself to 0700, which alone
shuts everyone else out of everything below it, and its direct entries (the database and its
WAL, keys, `blobs/`, `uploads/`, ...) to 0600/0700; it does not walk millions of blob files.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077


def use_private_umask() -> None:
    """Files and folders this process (and its children) creates are for its owner only."""
    os.umask(PRIVATE_UMASK)


def _restrict(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode) or not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            return  # a symlink points at something the operator placed on purpose
        if stat.S_IMODE(mode) & 0o077:
            path.chmod(stat.S_IMODE(mode) & 0o700)
    except FileNotFoundError:
        return
    except PermissionError:
        # Not ours (a folder the operator shares on purpose): say so, do not refuse to start.
        log.warning("datadir.chmod.refused", extra={"path": str(path)})


def sqlite_file(database_url: str) -> Path | None:
    """The SQLite database file a URL names (None for PostgreSQL or an in-memory database)."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    if not url.get_backend_name().startswith("sqlite") or not url.database:
        return None
    if url.database == ":memory:" or url.database.startswith("file:"):
        return None
    return Path(url.database)


def make_private(data_dir: Path, database_url: str = "") -> None:
    """Create the data folder if needed, and take away group and other access (see above)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _restrict(data_dir)
    for entry in data_dir.iterdir():
        _restrict(entry)
    database = sqlite_file(database_url) if database_url else None
    if database is not None:
        # Also when the database lives outside the data folder; WAL and SHM files follow the
        # database file's mode when SQLite creates them, but may predate this fix.
        for suffix in ("", "-wal", "-shm", "-journal"):
            _restrict(database.with_name(database.name + suffix))
