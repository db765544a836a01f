"""MSR's rule language for promotion and push-mirroring policies (pure: no I/O).

A policy holds a list of rules ``{"field", "operator", "values"}``; an image matches
when every rule holds. ``updated_at`` compares with a timestamp; ``updated_at_duration`` with
"now minus a duration": ``af`` = updated within the last duration, ``bf`` = updated before it
(older than the duration). A duration is ISO 8601 (``P7D``, ``PT12H``, ``P1DT6H``, ``P2W``),
Go's form (``24h``, ``1h30m``, ``90s``) or days/weeks (``7d``, ``2w``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

TAG_OPERATORS = frozenset({"eq", "sw", "ew", "c", "oo", "noo"})
SET_OPERATORS = frozenset({"oo", "noo"})
NUMBER_OPERATORS = frozenset({"gte", "gt", "eq", "neq", "lte", "lt"})
TIME_OPERATORS = frozenset({"bf", "af"})
SEVERITIES = ("all", "critical", "major", "minor")

FIELDS: dict[str, frozenset[str]] = {
    "tag": TAG_OPERATORS,
    "component.name": SET_OPERATORS,
    "license.name": SET_OPERATORS,
    "updated_at": TIME_OPERATORS,
    "updated_at_duration": TIME_OPERATORS,
    **{f"vulnerability_{severity}": NUMBER_OPERATORS for severity in SEVERITIES},
}
MAX_RULES = 100
MAX_VALUES = 100
MAX_VALUE_LENGTH = 1024


@dataclass(frozen=True)
class Rule:
    field: str
    operator: str
    values: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"field": self.field, "operator": self.operator, "values": list(self.values)}


class RuleError(ValueError):
    """A rule that cannot be used; the message names it ('rule 2 (tag sw): ...')."""


@dataclass(frozen=True)
class ImageFacts:
    tag: str
    vulnerabilities: dict[str, int] | None  # {"all","critical","major","minor"}; None = not scanned
    components: frozenset[str]
    licenses: frozenset[str]
    updated_at: datetime


def parse_time(value: str) -> datetime:
    """An RFC 3339 timestamp with an offset ('Z' accepted)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "T" not in text.upper():
        raise ValueError("not an RFC 3339 timestamp")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError("an RFC 3339 timestamp needs an offset")
    return parsed


_ISO_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?",
    re.IGNORECASE,
)
_SHORT_PART = re.compile(r"(\d+)(w|d|h|m|s)", re.IGNORECASE)
_SHORT_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
MAX_DURATION = timedelta(days=366 * 100)


def parse_duration(value: str) -> timedelta:
    """A positive duration: ISO 8601 ('P7D', 'PT12H'; no years or months, whose length
    varies), Go's form ('24h', '1h30m') or days and weeks ('7d', '2w')."""
    text = value.strip()
    if text[:1] in ("P", "p"):
        match = _ISO_DURATION.fullmatch(text)
        if match is None or text.upper() in ("P", "PT") or text.upper().endswith("T"):
            raise ValueError("not an ISO 8601 duration of weeks, days, hours, minutes, seconds")
        parts = {k: int(v) for k, v in match.groupdict().items() if v}
    else:
        pieces = _SHORT_PART.findall(text)
        if not pieces or "".join(n + u for n, u in pieces) != text:
            raise ValueError("not a duration such as 7d, 24h or 1h30m")
        parts = {}
        for number, unit in pieces:
            key = _SHORT_UNITS[unit.lower()]
            parts[key] = parts.get(key, 0) + int(number)
    try:
        duration = timedelta(**parts)
    except OverflowError:
        raise ValueError("too long") from None
    if duration <= timedelta(0) or duration > MAX_DURATION:
        raise ValueError("must be longer than zero and at most 100 years")
    return duration


def _check_values(field: str, operator: str, values: tuple[str, ...]) -> None:
    if not values:
        raise ValueError("values must not be empty")
    if field == "tag" and operator in SET_OPERATORS:
        return
    if field in ("component.name", "license.name"):
        return
    if len(values) != 1:
        raise ValueError("takes exactly one value")
    if field.startswith("vulnerability_"):
        if not values[0].strip().isdigit():
            raise ValueError(f"{values[0]!r} is not a non-negative integer")
    elif field == "updated_at":
        try:
            parse_time(values[0])
        except ValueError as exc:
            raise ValueError(f"{values[0]!r} is not an RFC 3339 timestamp") from exc
    elif field == "updated_at_duration":
        try:
            parse_duration(values[0])
        except ValueError as exc:
            raise ValueError(f"{values[0]!r} is not a duration: {exc}") from exc


def _parse_one(index: int, raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise RuleError(f"rule {index}: must be an object with field, operator and values")
    field, operator, values = raw.get("field"), raw.get("operator"), raw.get("values")
    label = f"rule {index} ({field} {operator})"
    if not isinstance(field, str) or field not in FIELDS:
        raise RuleError(f"{label}: unknown field {field!r}; known: {', '.join(sorted(FIELDS))}")
    if not isinstance(operator, str) or operator not in FIELDS[field]:
        known = ", ".join(sorted(FIELDS[field]))
        raise RuleError(f"{label}: operator {operator!r} does not apply to {field}; known: {known}")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise RuleError(f"{label}: values must be a list of strings")
    if len(values) > MAX_VALUES or any(len(v) > MAX_VALUE_LENGTH for v in values):
        raise RuleError(f"{label}: at most {MAX_VALUES} values of {MAX_VALUE_LENGTH} characters")
    try:
        _check_values(field, operator, tuple(values))
    except ValueError as exc:
        raise RuleError(f"{label}: {exc}") from None
    return Rule(field=field, operator=operator, values=tuple(values))


def parse_rules(raw: Any) -> tuple[Rule, ...]:
    """MSR's ``[{"field", "operator", "values"}]``; rules are numbered from 1 in errors."""
    if not isinstance(raw, list):
        raise RuleError("rules must be a list")
    if len(raw) > MAX_RULES:
        raise RuleError(f"at most {MAX_RULES} rules")
    return tuple(_parse_one(index, item) for index, item in enumerate(raw, start=1))


_TAG_TESTS: dict[str, Callable[[str, tuple[str, ...]], bool]] = {
    "eq": lambda tag, values: tag == values[0],
    "sw": lambda tag, values: tag.startswith(values[0]),
    "ew": lambda tag, values: tag.endswith(values[0]),
    "c": lambda tag, values: values[0] in tag,
    "oo": lambda tag, values: tag in values,
    "noo": lambda tag, values: tag not in values,
}
_NUMBER_TESTS: dict[str, Callable[[int, int], bool]] = {
    "gte": lambda a, b: a >= b,
    "gt": lambda a, b: a > b,
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "lte": lambda a, b: a <= b,
    "lt": lambda a, b: a < b,
}


def _holds(rule: Rule, facts: ImageFacts, now: datetime) -> bool:
    if rule.field == "tag":
        return _TAG_TESTS[rule.operator](facts.tag, rule.values)
    if rule.field.startswith("vulnerability_"):
        if facts.vulnerabilities is None:
            return False
        count = facts.vulnerabilities.get(rule.field.removeprefix("vulnerability_"), 0)
        return _NUMBER_TESTS[rule.operator](count, int(rule.values[0]))
    if rule.field in ("component.name", "license.name"):
        present = facts.components if rule.field == "component.name" else facts.licenses
        found = any(value in present for value in rule.values)
        return found if rule.operator == "oo" else not found
    if rule.field == "updated_at_duration":
        moment = now - parse_duration(rule.values[0])
    else:
        moment = parse_time(rule.values[0])
    updated = facts.updated_at if facts.updated_at.tzinfo else facts.updated_at.replace(tzinfo=UTC)
    return updated < moment if rule.operator == "bf" else updated > moment


def evaluate(rules: Sequence[Rule], facts: ImageFacts, now: datetime | None = None) -> bool:
    """True when every rule holds (no rules: always). `now` (default: the current time) is
    what ``updated_at_duration`` counts back from.

    Vulnerability rules never hold on an unscanned image.
    """
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return all(_holds(rule, facts, moment) for rule in rules)


def needs_scan(rules: Sequence[Rule]) -> bool:
    """Whether the rules look at scan results (vulnerabilities, components or licences)."""
    prefixes = ("vulnerability_", "component.", "license.")
    return any(rule.field.startswith(prefixes) for rule in rules)
