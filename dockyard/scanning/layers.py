"""A layer blob read as one stream of tar members, never unpacked, within `Limits`.

OCI layers are tar archives, gzipped or not. The blob is decompressed here (not by `tarfile`) so
that every decompressed byte is counted and each call inflates a bounded amount: a gzip bomb
ends at `max_layer_bytes`, not in memory. zstd, xz and bzip2 layers are refused by name.
`tarfile` in stream mode keeps every member it has read; `walk` forgets them as it goes, and
pax or GNU long-name headers over `max_header_bytes` are refused before `tarfile` reads them.
"""

from __future__ import annotations

import tarfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from dockyard.scanning.packages import InventoryError, Limits

GZIP_MAGIC = b"\x1f\x8b"
REFUSED_MAGIC = {
    b"\x28\xb5\x2f\xfd": "zstd",
    b"\xfd7zXZ\x00": "xz",
    b"BZh": "bzip2",
}
CHUNK = 64 * 1024
_HEADER_TYPES = frozenset(
    {
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
    }
)


class Budget:
    """The time and decompressed bytes a layer has left."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.max_seconds
        self.bytes = 0

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise InventoryError(
                f"reading the layer took longer than {self.limits.max_seconds:g} seconds"
            )

    def count(self, size: int) -> None:
        self.bytes += size
        if self.bytes > self.limits.max_layer_bytes:
            raise InventoryError(
                f"the layer decompresses to more than {self.limits.max_layer_bytes} bytes"
            )


class LayerStream:
    """The blob's tar bytes: gunzipped when the blob is gzip, as they are when it is plain tar."""

    def __init__(self, blob: BinaryIO, budget: Budget) -> None:
        self._blob = blob
        self._budget = budget
        head = self._raw(6)
        for magic, name in REFUSED_MAGIC.items():
            if head.startswith(magic):
                raise InventoryError(
                    f"the layer is {name}-compressed; only gzip and uncompressed tar are supported"
                )
        self._pending = head
        self._inflater: Any = zlib.decompressobj(wbits=31) if head[:2] == GZIP_MAGIC else None

    def _raw(self, size: int) -> bytes:
        data = self._blob.read(size)
        return data if isinstance(data, bytes) else bytes(data or b"")

    def read(self, size: int = -1) -> bytes:
        self._budget.check_time()
        size = CHUNK if size is None or size < 0 else min(size, CHUNK)
        if self._inflater is None:
            data = self._pending[:size]
            self._pending = self._pending[size:]
            if not data:
                data = self._raw(size)
        else:
            data = self._inflate(size)
        self._budget.count(len(data))
        return data

    # The rest of the file protocol tarfile.open asks for; a stream only goes forward.
    def write(self, data: bytes, /) -> object:
        raise OSError("a layer stream is read-only")

    def tell(self) -> int:
        return self._budget.bytes

    def seek(self, pos: int, /) -> object:
        raise OSError("a layer stream cannot seek")

    def close(self) -> object:
        return None

    def _next_input(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        return self._raw(CHUNK)

    def _inflate(self, size: int) -> bytes:
        while True:
            inflater = self._inflater
            if inflater.eof:
                # Another gzip member may follow (concatenated gzip is valid); zeros are padding.
                rest = inflater.unused_data or self._next_input()
                if not rest.strip(b"\0"):
                    return b""
                if not rest.startswith(GZIP_MAGIC):
                    raise InventoryError("the layer's gzip stream has trailing garbage")
                self._inflater = inflater = zlib.decompressobj(wbits=31)
                data = rest
            else:
                data = inflater.unconsumed_tail or self._next_input()
                if not data:
                    raise InventoryError("the layer's gzip stream is truncated")
            try:
                out: bytes = inflater.decompress(data, size)
            except zlib.error as exc:
                raise InventoryError(f"the layer's gzip stream is corrupt ({exc})") from None
            if out:
                return out


def _bounded_tarinfo(max_header_bytes: int) -> type[tarfile.TarInfo]:
    class BoundedTarInfo(tarfile.TarInfo):
        def _proc_member(self, tar: tarfile.TarFile) -> Any:
            if self.type in _HEADER_TYPES and self.size > max_header_bytes:
                raise InventoryError(
                    f"a tar header of {self.size} bytes is over the {max_header_bytes}-byte limit"
                )
            return super()._proc_member(tar)  # type: ignore[misc]

    return BoundedTarInfo


def normalize(name: str) -> str | None:
    """The member's path relative to the image root; None for one no file system would hold."""
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    path = "/".join(parts)
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the name, kept as surrogates by tarfile
        return None
    return path


@dataclass
class Entry:
    """One member of the layer: read its content (regular files only) while it is current."""

    path: str
    info: tarfile.TarInfo
    _tar: tarfile.TarFile
    _limits: Limits

    @property
    def is_file(self) -> bool:
        return self.info.isreg()

    @property
    def is_dir(self) -> bool:
        return self.info.isdir()

    def read(self) -> bytes:
        limit = self._limits.max_file_bytes
        if not self.info.isreg():
            raise InventoryError(f"{self.path} is not a regular file")
        if self.info.size > limit:
            raise InventoryError(
                f"{self.path} is {self.info.size} bytes, over the {limit}-byte limit "
                "for a package database file"
            )
        try:
            handle = self._tar.extractfile(self.info)
            if handle is None:
                raise InventoryError(f"{self.path} cannot be read")
            with handle:
                return handle.read(limit + 1)[:limit]
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise InventoryError(f"{self.path} cannot be read ({exc})") from None


def walk(blob: BinaryIO, limits: Limits) -> Iterator[Entry]:
    """Each member of the layer in order, with its normalised path; bad paths are skipped."""
    budget = Budget(limits)
    stream = LayerStream(blob, budget)
    try:
        tar = tarfile.open(  # noqa: SIM115 (closed by the `with` below)
            None, "r|", fileobj=stream, tarinfo=_bounded_tarinfo(limits.max_header_bytes)
        )
    except tarfile.TarError as exc:
        raise InventoryError(f"the layer is not a tar archive ({exc})") from None
    entries = 0
    with tar:
        while True:
            info = _next_member(tar)
            if info is None:
                return
            members = getattr(tar, "members", None)
            if isinstance(members, list):
                members.clear()  # stream mode would keep every TarInfo of the layer
            entries += 1
            if entries > limits.max_entries:
                raise InventoryError(f"the layer has more than {limits.max_entries} entries")
            budget.check_time()
            path = normalize(info.name)
            if path is not None:
                yield Entry(path, info, tar, limits)


def _next_member(tar: tarfile.TarFile) -> tarfile.TarInfo | None:
    try:
        return tar.next()
    except InventoryError:
        raise
    except RecursionError:
        raise InventoryError("the layer's tar headers nest too deeply") from None
    except (tarfile.TarError, EOFError, OSError, ValueError, OverflowError) as exc:
        raise InventoryError(f"the layer is not a valid tar archive ({exc})") from None
