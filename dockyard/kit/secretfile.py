"""A secret file in the data folder, created once (mode 0600) and read by every process.

Several worker processes may start at once: each writes a candidate to a private temporary
file and links it into place; `os.link` fails when another process won, whose file is then
kept, so every process ends up reading the same secret. No other I/O here.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """The bytes of `path`, first writing `make()` there if no process has yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(make())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; theirs is kept
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_bytes()
