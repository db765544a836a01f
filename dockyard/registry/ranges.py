"""Parsing of upload `Content-Range` and blob `Range` headers. Pure; no I/O."""

from __future__ import annotations

import re

_CONTENT_RANGE_RE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(\d+|\*))?$")
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_MAX_RANGES = 100


class RangeError(ValueError):
    """The header is malformed or cannot be satisfied."""


def parse_content_range(value: str) -> tuple[int, int]:
    """An upload chunk's `Content-Range: <start>-<end>` (inclusive; `bytes ` prefix allowed)."""
    match = _CONTENT_RANGE_RE.fullmatch(value.strip())
    if match is None:
        raise RangeError(f"malformed Content-Range {value!r}")
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        raise RangeError(f"Content-Range end {end} is before its start {start}")
    return start, end


def parse_range(value: str, size: int) -> tuple[int, int]:
    """A single `Range: bytes=a-b` against a blob of `size` bytes: inclusive (start, end)."""
    match = _RANGE_RE.fullmatch(value.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        raise RangeError(f"unsupported Range {value[:100]!r}")
    first, last = match.group(1), match.group(2)
    if not first:
        length = int(last)
        if length == 0:
            raise RangeError("empty suffix range")
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        raise RangeError(f"range {value[:100]!r} is outside 0-{size - 1}")
    if end < start:
        raise RangeError(f"range {value[:100]!r} ends before it starts")
    return start, end


def check_ranges(value: str, size: int) -> None:
    """Raise RangeError unless every part of `Range: bytes=a-b[, c-d…]` is well formed and
    within a blob of `size` bytes (what the file response would otherwise refuse in plain
    text)."""
    unit, sep, ranges = value.strip().partition("=")
    if not sep or unit.strip() != "bytes":
        raise RangeError(f"unsupported Range {value[:100]!r}")
    parts = ranges.split(",")
    if len(parts) > _MAX_RANGES:
        raise RangeError(f"more than {_MAX_RANGES} ranges")
    for part in parts:
        parse_range(f"bytes={part.strip()}", size)


def upload_range_header(size: int) -> str:
    """The `Range` header of an upload status: `0-<last byte>` (`0-0` when empty, as
    Distribution answers)."""
    return f"0-{max(size - 1, 0)}"
