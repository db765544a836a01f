"""Subscription filters beyond MSR: which events a subscription hears, by tag and by severity.

`tagFilter` is a list of glob patterns (`fnmatch`, case-sensitive, as tags are): `v*`, `release-?`,
`[0-9]*`; a pattern starting with `!` excludes. A tag matches when it matches some positive
pattern (or there is none) and no negative one: `["v*", "!*-rc*"]` is every `v` tag but release
candidates. It applies to the event types whose contents carry a `tag` (`TAG_TYPES`); an event of
such a type without a tag (a scan of a digest) is seen as the tag "".

`minSeverity` (`critical`, `major`, `minor`) applies to SCAN_COMPLETED: a scan whose worst finding
(its `scanSummary` counts) is less severe, or which found nothing, is not delivered.

Parsing raises MSR-style errors (INVALID_PARAMETERS naming the field); matching is pure and cheap
(the dispatcher runs it per (event, subscription) pair). No database and no HTTP here.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

from dockyard.events.types import EventType
from dockyard.scanning.severity import BUCKETS, CRITICAL, MAJOR, MINOR
from dockyard.webhooks.checks import bad_field

# The event types whose contents name a tag (MSR's content structures; mirroring and promotion
# carry the local tag too). MANIFEST_* and the namespace and global events have none.
TAG_TYPES = frozenset(
    {
        EventType.TAG_PUSH,
        EventType.TAG_PULL,
        EventType.TAG_DELETE,
        EventType.SCAN_COMPLETED,
        EventType.SCAN_FAILED,
        EventType.PROMOTION,
        EventType.PUSH_MIRRORING,
        EventType.POLL_MIRRORING,
    }
)
SEVERITY_TYPES = frozenset({EventType.SCAN_COMPLETED})
SEVERITIES = BUCKETS  # most severe first
MAX_PATTERNS = 32
# A tag's characters (OCI: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}) and the glob's: * ? [ ] and ^/!
# inside a class.
_PATTERN = re.compile(r"[A-Za-z0-9_.*?\[\]!^-]{1,128}")
_RANK = {CRITICAL: 3, MAJOR: 2, MINOR: 1}


def parse_tag_filter(value: Any, event_type: EventType) -> str:
    """The patterns of a `tagFilter` (a list of strings, or one comma-separated string) joined by
    commas, as stored; "" for none (null, "" or [])."""
    field = "tagFilter"
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise bad_field(field, 'tagFilter must be a list of glob patterns, e.g. ["v*", "!*-rc*"].')
    patterns = [_pattern(item) for item in items]
    if not patterns:
        return ""
    if event_type not in TAG_TYPES:
        raise bad_field(field, f"tagFilter applies only to events with a tag, not {event_type}.")
    if len(patterns) > MAX_PATTERNS:
        raise bad_field(field, f"tagFilter may hold at most {MAX_PATTERNS} patterns.")
    return ",".join(patterns)


def _pattern(item: Any) -> str:
    if not isinstance(item, str):
        raise bad_field("tagFilter", "tagFilter patterns must be strings.")
    pattern = item.strip()
    body = pattern[1:] if pattern.startswith("!") else pattern
    if not _PATTERN.fullmatch(body):
        raise bad_field(
            "tagFilter",
            f"tagFilter pattern {pattern[:130]!r} must be 1 to 128 tag characters "
            "(letters, digits, '_', '.', '-') or glob characters (*, ?, [...]), "
            "optionally after '!'.",
        )
    return pattern


def parse_min_severity(value: Any, event_type: EventType) -> str | None:
    if value is None or value == "":
        return None
    if value not in SEVERITIES:
        raise bad_field("minSeverity", f"minSeverity must be one of: {', '.join(SEVERITIES)}.")
    if event_type not in SEVERITY_TYPES:
        raise bad_field("minSeverity", "minSeverity applies only to SCAN_COMPLETED.")
    return str(value)


def patterns_of(stored: str) -> list[str]:
    """The stored patterns as the API shows them: a list."""
    return stored.split(",") if stored else []


@lru_cache(maxsize=4096)
def _split(stored: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(positive, negative) patterns; cached as a few filters serve many deliveries."""
    positive: list[str] = []
    negative: list[str] = []
    for pattern in patterns_of(stored):
        if pattern.startswith("!"):
            negative.append(pattern[1:])
        else:
            positive.append(pattern)
    return tuple(positive), tuple(negative)


def tag_matches(stored: str, tag: str) -> bool:
    if not stored:
        return True
    positive, negative = _split(stored)
    if positive and not any(fnmatchcase(tag, p) for p in positive):
        return False
    return not any(fnmatchcase(tag, n) for n in negative)


def worst_severity(contents: Any) -> str | None:
    """The most severe bucket with a finding in a SCAN_COMPLETED's summary; None if none."""
    summary = contents.get("scanSummary") if isinstance(contents, dict) else None
    if not isinstance(summary, dict):
        return None
    for bucket in SEVERITIES:
        count = summary.get(bucket)
        if isinstance(count, int) and count > 0:
            return bucket
    return None


def severity_matches(min_severity: str | None, contents: Any) -> bool:
    if not min_severity:
        return True
    worst = worst_severity(contents)
    return worst is not None and _RANK[worst] >= _RANK[min_severity]


def accepts(tag_filter: str, min_severity: str | None, event_type: str, payload: Any) -> bool:
    """Whether a subscription with these filters hears this event (type and outbox payload)."""
    if not tag_filter and not min_severity:
        return True
    contents = payload.get("contents") if isinstance(payload, dict) else None
    if not isinstance(contents, dict):
        contents = {}
    if tag_filter and event_type in TAG_TYPES:
        tag = contents.get("tag")
        if not tag_matches(tag_filter, tag if isinstance(tag, str) else ""):
            return False
    if min_severity and event_type in SEVERITY_TYPES:
        return severity_matches(min_severity, contents)
    return True
