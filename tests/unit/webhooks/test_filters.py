"""webhooks.filters: tag patterns and the minimum severity, parsed and matched."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.errors import DockyardError
from dockyard.events.samples import sample_payload
from dockyard.events.types import EventType
from dockyard.webhooks.filters import (
    TAG_TYPES,
    accepts,
    parse_min_severity,
    parse_tag_filter,
    patterns_of,
    severity_matches,
    tag_matches,
    worst_severity,
)


@pytest.mark.parametrize(
    ("patterns", "tag", "expected"),
    [
        ("", "anything", True),
        ("v*", "v1.2", True),
        ("v*", "latest", False),
        ("v*,!*-rc*", "v1.2", True),
        ("v*,!*-rc*", "v1.2-rc1", False),
        ("!*-rc*", "latest", True),
        ("!*-rc*", "2.0-rc3", False),
        ("latest,stable", "stable", True),
        ("latest,stable", "beta", False),
        ("release-?", "release-1", True),
        ("release-?", "release-10", False),
        ("[0-9]*", "1.0", True),
        ("[0-9]*", "v1.0", False),
        ("V*", "v1", False),  # tags are case-sensitive
        ("!latest", "", True),  # an event without a tag is the tag ""
        ("v*", "", False),
    ],
)
def test_tag_matches(patterns: str, tag: str, expected: bool) -> None:
    assert tag_matches(patterns, tag) is expected


def test_parse_tag_filter_list_and_comma_string() -> None:
    assert parse_tag_filter(["v*", "!*-rc*"], EventType.TAG_PUSH) == "v*,!*-rc*"
    assert parse_tag_filter(" v* , !*-rc* ", EventType.TAG_PUSH) == "v*,!*-rc*"
    assert parse_tag_filter(None, EventType.TAG_PUSH) == ""
    assert parse_tag_filter("", EventType.MANIFEST_PUSH) == ""
    assert parse_tag_filter([], EventType.REPO_EVENT) == ""
    assert patterns_of("v*,!*-rc*") == ["v*", "!*-rc*"]
    assert patterns_of("") == []


@pytest.mark.parametrize(
    "value",
    [
        5,
        {"v*": True},
        ["v*", 3],
        ["has space"],
        ["a/b"],
        ["!"],
        [""],
        "v*,,x",
        ["x" * 129],
        [f"t{i}" for i in range(33)],
    ],
)
def test_parse_tag_filter_refuses(value: Any) -> None:
    with pytest.raises(DockyardError) as err:
        parse_tag_filter(value, EventType.TAG_PUSH)
    assert err.value.code.value == "INVALID_PARAMETERS"
    assert err.value.detail == {"field": "tagFilter"}


@pytest.mark.parametrize("event_type", list(EventType))
def test_tag_filter_only_on_types_with_a_tag(event_type: EventType) -> None:
    if event_type in TAG_TYPES:
        assert parse_tag_filter(["v*"], event_type) == "v*"
        assert isinstance(sample_payload(event_type)["contents"].get("tag"), str)
    else:
        with pytest.raises(DockyardError):
            parse_tag_filter(["v*"], event_type)
        assert "tag" not in sample_payload(event_type)["contents"]


def test_parse_min_severity() -> None:
    assert parse_min_severity(None, EventType.SCAN_COMPLETED) is None
    assert parse_min_severity("", EventType.SCAN_COMPLETED) is None
    assert parse_min_severity("major", EventType.SCAN_COMPLETED) == "major"
    for bad, event_type in (("high", EventType.SCAN_COMPLETED), ("major", EventType.TAG_PUSH)):
        with pytest.raises(DockyardError) as err:
            parse_min_severity(bad, event_type)
        assert err.value.detail == {"field": "minSeverity"}


def _scan(critical: int = 0, major: int = 0, minor: int = 0) -> dict[str, Any]:
    return {"scanSummary": {"critical": critical, "major": major, "minor": minor}}


def test_worst_severity() -> None:
    assert worst_severity(_scan()) is None
    assert worst_severity(_scan(minor=2)) == "minor"
    assert worst_severity(_scan(major=1, minor=2)) == "major"
    assert worst_severity(_scan(critical=1)) == "critical"
    assert worst_severity({}) is None
    assert worst_severity({"scanSummary": {"critical": "many"}}) is None


@pytest.mark.parametrize(
    ("minimum", "scan", "expected"),
    [
        (None, _scan(), True),
        ("minor", _scan(), False),  # nothing found: below any minimum
        ("minor", _scan(minor=1), True),
        ("major", _scan(minor=5), False),
        ("major", _scan(major=1), True),
        ("major", _scan(critical=1), True),
        ("critical", _scan(major=9), False),
        ("critical", _scan(critical=1), True),
    ],
)
def test_severity_matches(minimum: str | None, scan: dict[str, Any], expected: bool) -> None:
    assert severity_matches(minimum, scan) is expected


def test_accepts_applies_each_filter_to_its_types() -> None:
    push = sample_payload(EventType.TAG_PUSH)  # tag "latest"
    assert accepts("", None, "TAG_PUSH", push)
    assert accepts("latest", None, "TAG_PUSH", push)
    assert not accepts("v*", None, "TAG_PUSH", push)
    scan = sample_payload(EventType.SCAN_COMPLETED)  # tag "latest", 1 major and 2 minor
    assert accepts("lat*", "major", "SCAN_COMPLETED", scan)
    assert not accepts("lat*", "critical", "SCAN_COMPLETED", scan)
    assert not accepts("v*", "minor", "SCAN_COMPLETED", scan)
    # A stored filter on a type it does not apply to changes nothing; odd payloads do not raise.
    manifest = sample_payload(EventType.MANIFEST_PUSH)
    assert accepts("v*", "critical", "MANIFEST_PUSH", manifest)
    assert not accepts("v*", None, "TAG_PUSH", {"contents": None})
    assert not accepts("", "minor", "SCAN_COMPLETED", "not a dict")
