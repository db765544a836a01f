"""Reading an OSV bundle one entry at a time: a zip (osv.dev's per-ecosystem `all.zip`), a tar
(plain, gzip, bzip2 or xz), a folder of `.json` files, or one JSON file. No I/O but reading.

Nothing is extracted: entries are read into memory one by one, each at most
`max_record_bytes` (a larger one is reported `too_large` and never read further), at most
`max_entries` of them (more is an `ArchiveError`), and their names only decide whether an
entry is JSON (`*.json`), so path tricks (`../`, absolute names, links) have nothing to act on.
Folder walks do not follow symbolic links. A container that cannot be read (not a zip, tar or
JSON, a corrupt zip member, a truncated gzip stream) raises `ArchiveError`.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

try:  # optional codecs of tarfile; absent ones just cannot occur
    from lzma import LZMAError
except ImportError:  # pragma: no cover
    LZMAError = OSError  # type: ignore[misc,assignment]

_READ_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    EOFError,
    LZMAError,
    OSError,
    RuntimeError,  # zipfile: an encrypted member
    NotImplementedError,  # zipfile: an unsupported compression method
)


class ArchiveError(Exception):
    """The bundle cannot be read as a zip, tar, folder or JSON file; str(error) says why."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_record_bytes: int = 4 * 1024 * 1024
    max_entries: int = 2_000_000


@dataclass(frozen=True)
class Entry:
    name: str
    data: bytes  # empty when the entry is over max_record_bytes (never read further)
    too_large: bool = False


def _is_json(name: str) -> bool:
    return name.lower().endswith(".json")


def _read_bounded(stream: IO[bytes], limit: int) -> bytes | None:
    data = stream.read(limit + 1)
    return None if len(data) > limit else data


class _Counter:
    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.seen = 0

    def tick(self) -> None:
        self.seen += 1
        if self.seen > self.limits.max_entries:
            raise ArchiveError(f"the archive has more than {self.limits.max_entries} entries")

    def entry(self, name: str, stream: IO[bytes]) -> Entry:
        data = _read_bounded(stream, self.limits.max_record_bytes)
        if data is None:
            return Entry(name, b"", too_large=True)
        return Entry(name, data)


def _zip_entries(path: Path, counter: _Counter) -> Iterator[Entry]:
    with path.open("rb") as raw:
        end_record = getattr(zipfile, "_EndRecData", None)
        if end_record is not None:
            # The entry count from the end record, before zipfile reads the central directory
            # (a hostile directory of millions of entries would otherwise all be in memory).
            end = end_record(raw)
            if end is not None and end[4] > counter.limits.max_entries:
                raise ArchiveError(
                    f"the archive has more than {counter.limits.max_entries} entries"
                )
        with zipfile.ZipFile(raw) as archive:
            for info in archive.infolist():
                counter.tick()
                if info.is_dir() or not _is_json(info.filename):
                    continue
                with archive.open(info) as member:
                    yield counter.entry(info.filename, member)


def _tar_entries(path: Path, counter: _Counter) -> Iterator[Entry]:
    with tarfile.open(path, mode="r|*") as archive:
        for member in archive:
            counter.tick()
            if not member.isfile() or not _is_json(member.name):
                continue
            if member.size > counter.limits.max_record_bytes:
                yield Entry(member.name, b"", too_large=True)
                continue
            stream = archive.extractfile(member)
            if stream is not None:
                yield counter.entry(member.name, stream)


def _folder_entries(path: Path, counter: _Counter) -> Iterator[Entry]:
    for top, dirs, files in os.walk(path, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            counter.tick()
            full = os.path.join(top, name)
            if not _is_json(name) or os.path.islink(full):
                continue
            with open(full, "rb") as stream:
                yield counter.entry(os.path.relpath(full, path), stream)


_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")  # gzip, bzip2, xz


def _sniff(path: Path) -> str:
    """ "json", "tar" (plain or compressed) or "" from the file's first bytes."""
    with path.open("rb") as stream:
        head = stream.read(512)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        return "json"
    if head.startswith(_COMPRESSED) or head[257:262] == b"ustar":
        return "tar"
    return ""


def iter_entries(source: Path, limits: ArchiveLimits = ArchiveLimits()) -> Iterator[Entry]:
    """Every JSON entry of the bundle, in archive order; ArchiveError when it cannot be read."""
    counter = _Counter(limits)
    try:
        if source.is_dir():
            yield from _folder_entries(source, counter)
        elif not source.is_file():
            raise ArchiveError(f"{source.name}: no such file or folder")
        elif zipfile.is_zipfile(source):
            yield from _zip_entries(source, counter)
        elif (kind := _sniff(source)) == "json":
            with source.open("rb") as stream:
                counter.tick()
                yield counter.entry(source.name, stream)
        elif kind == "tar":
            yield from _tar_entries(source, counter)
        else:
            raise ArchiveError("not a zip, tar or JSON file (nor a folder of JSON files)")
    except ArchiveError:
        raise
    except _READ_ERRORS as exc:
        raise ArchiveError(_describe(exc)) from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, tarfile.ReadError | zipfile.BadZipFile | zlib.error | EOFError | LZMAError):
        return f"the archive is corrupt: {exc or type(exc).__name__}"
    return f"the archive cannot be read: {exc or type(exc).__name__}"
