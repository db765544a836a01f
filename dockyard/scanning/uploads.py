"""An uploaded vulnerability database archive, kept in the data folder until the scanner's
import job reads it (the API's PUT .../scan/update and the admin page share this). Checks only
that the bytes open like a zip or tar(.gz): the import validates the rest. No HTTP here.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

IMPORTS_DIR = "scanner-imports"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
HEAD_BYTES = 512


class NotAnArchive(ValueError):
    """The upload is not a zip or tar(.gz) archive."""


def looks_like_archive(head: bytes) -> bool:
    """zip, gzip, or a plain tar (`ustar` at 257) by their first bytes."""
    return head[:4] == b"PK\x03\x04" or head[:2] == b"\x1f\x8b" or head[257:262] == b"ustar"


def _suffix(filename: str, head: bytes) -> str:
    lower = filename.lower()
    found = next((s for s in ARCHIVE_SUFFIXES if lower.endswith(s)), "")
    return found or (".zip" if head[:2] == b"PK" else ".tar.gz")


def _save(source: BinaryIO, filename: str, data_dir: Path) -> Path:
    head = source.read(HEAD_BYTES)
    if not looks_like_archive(head):
        raise NotAnArchive("The file is not a zip or tar(.gz) archive of OSV records.")
    source.seek(0)
    folder = data_dir / IMPORTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{uuid.uuid4().hex}{_suffix(filename, head)}"
    with target.open("wb") as out:
        shutil.copyfileobj(source, out, 1024 * 1024)
    return target


async def save_archive(source: BinaryIO, filename: str, data_dir: Path) -> Path:
    """Copy `source` (a seekable file) into `<data>/scanner-imports/`, in a thread; raises
    NotAnArchive. Queue it with `service.enqueue_import(session, str(path))`."""
    return await asyncio.to_thread(_save, source, filename, data_dir)
