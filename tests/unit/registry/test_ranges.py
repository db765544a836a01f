"""Content-Range (uploads) and Range (blob GET) parsing."""

from __future__ import annotations

import pytest

from dockyard.registry.ranges import (
    RangeError,
    parse_content_range,
    parse_range,
    upload_range_header,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0-99", (0, 99)),
        ("bytes 100-199", (100, 199)),
        ("bytes=5-5", (5, 5)),
        ("bytes 0-9/10", (0, 9)),
        ("0-9/*", (0, 9)),
    ],
)
def test_content_range(value: str, expected: tuple[int, int]) -> None:
    assert parse_content_range(value) == expected


@pytest.mark.parametrize("value", ["", "abc", "5-2", "-5", "1-", "bytes 1-2-3"])
def test_content_range_invalid(value: str) -> None:
    with pytest.raises(RangeError):
        parse_content_range(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-9", (0, 9)),
        ("bytes=10-", (10, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=90-1000", (90, 99)),
        ("bytes=-1000", (0, 99)),
    ],
)
def test_range(value: str, expected: tuple[int, int]) -> None:
    assert parse_range(value, 100) == expected


@pytest.mark.parametrize(
    "value", ["bytes=100-", "bytes=5-2", "bytes=-0", "bytes=-", "items=0-1", "bytes=0-1,3-4"]
)
def test_range_invalid(value: str) -> None:
    with pytest.raises(RangeError):
        parse_range(value, 100)


def test_upload_range_header() -> None:
    assert upload_range_header(0) == "0-0"
    assert upload_range_header(10) == "0-9"
