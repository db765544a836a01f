"""MSR's rule language: parsing (errors name the rule) and evaluation (all rules must hold)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dockyard.policies.rules import (
    FIELDS,
    ImageFacts,
    Rule,
    RuleError,
    evaluate,
    needs_scan,
    parse_duration,
    parse_rules,
)


def facts(
    tag: str = "v1.2.3",
    vulns: dict[str, int] | None = None,
    components: frozenset[str] = frozenset({"openssl", "zlib"}),
    licenses: frozenset[str] = frozenset({"MIT"}),
    updated_at: datetime = datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
) -> ImageFacts:
    return ImageFacts(
        tag=tag,
        vulnerabilities=vulns,
        components=components,
        licenses=licenses,
        updated_at=updated_at,
    )


def R(field: str, operator: str, values: object) -> dict[str, object]:
    return {"field": field, "operator": operator, "values": values}


def rule(field: str, operator: str, *values: str) -> tuple[Rule, ...]:
    return parse_rules([{"field": field, "operator": operator, "values": list(values)}])


SCANNED = {"all": 5, "critical": 1, "major": 2, "minor": 2}


@pytest.mark.parametrize(
    ("operator", "values", "expected"),
    [
        ("eq", ["v1.2.3"], True),
        ("eq", ["v1.2"], False),
        ("sw", ["v1"], True),
        ("sw", ["1"], False),
        ("ew", [".3"], True),
        ("ew", ["v1"], False),
        ("c", ["2."], True),
        ("c", ["rc"], False),
        ("oo", ["latest", "v1.2.3"], True),
        ("oo", ["latest"], False),
        ("noo", ["latest"], True),
        ("noo", ["latest", "v1.2.3"], False),
    ],
)
def test_tag_operators(operator: str, values: list[str], expected: bool) -> None:
    assert evaluate(rule("tag", operator, *values), facts()) is expected


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        ("vulnerability_critical", "gte", "1", True),
        ("vulnerability_critical", "gte", "2", False),
        ("vulnerability_critical", "gt", "0", True),
        ("vulnerability_critical", "gt", "1", False),
        ("vulnerability_critical", "eq", "1", True),
        ("vulnerability_critical", "eq", "0", False),
        ("vulnerability_critical", "neq", "0", True),
        ("vulnerability_critical", "neq", "1", False),
        ("vulnerability_critical", "lte", "1", True),
        ("vulnerability_critical", "lte", "0", False),
        ("vulnerability_critical", "lt", "2", True),
        ("vulnerability_critical", "lt", "1", False),
        ("vulnerability_all", "eq", "5", True),
        ("vulnerability_major", "eq", "2", True),
        ("vulnerability_minor", "lt", "2", False),
    ],
)
def test_vulnerability_operators(field: str, operator: str, value: str, expected: bool) -> None:
    assert evaluate(rule(field, operator, value), facts(vulns=SCANNED)) is expected


@pytest.mark.parametrize("operator", ["gte", "gt", "eq", "neq", "lte", "lt"])
def test_vulnerability_rules_do_not_hold_on_an_unscanned_image(operator: str) -> None:
    assert evaluate(rule("vulnerability_critical", operator, "0"), facts(vulns=None)) is False


def test_a_missing_severity_counts_zero() -> None:
    assert evaluate(rule("vulnerability_critical", "eq", "0"), facts(vulns={"all": 0})) is True


@pytest.mark.parametrize(
    ("field", "operator", "values", "expected"),
    [
        ("component.name", "oo", ["openssl"], True),
        ("component.name", "oo", ["busybox", "zlib"], True),
        ("component.name", "oo", ["busybox"], False),
        ("component.name", "noo", ["busybox"], True),
        ("component.name", "noo", ["busybox", "openssl"], False),
        ("license.name", "oo", ["MIT"], True),
        ("license.name", "oo", ["GPL-3.0"], False),
        ("license.name", "noo", ["GPL-3.0"], True),
        ("license.name", "noo", ["MIT"], False),
    ],
)
def test_component_and_license_operators(
    field: str, operator: str, values: list[str], expected: bool
) -> None:
    assert evaluate(rule(field, operator, *values), facts()) is expected


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("bf", "2026-07-01T00:00:00Z", True),
        ("bf", "2026-05-01T00:00:00Z", False),
        ("af", "2026-05-01T00:00:00+02:00", True),
        ("af", "2026-07-01T00:00:00Z", False),
        ("bf", "2026-06-01T12:00:00Z", False),
        ("af", "2026-06-01T12:00:00Z", False),
    ],
)
def test_updated_at_operators(operator: str, value: str, expected: bool) -> None:
    assert evaluate(rule("updated_at", operator, value), facts()) is expected


def test_naive_updated_at_is_taken_as_utc() -> None:
    naive = facts(updated_at=datetime(2026, 6, 1, 12, 0))
    assert evaluate(rule("updated_at", "bf", "2026-06-01T12:00:01Z"), naive) is True


def test_all_rules_must_hold() -> None:
    rules = parse_rules(
        [
            {"field": "tag", "operator": "sw", "values": ["v"]},
            {"field": "vulnerability_critical", "operator": "eq", "values": ["0"]},
        ]
    )
    assert evaluate(rules, facts(vulns={"all": 0, "critical": 0})) is True
    assert evaluate(rules, facts(vulns=SCANNED)) is False
    assert evaluate(rules, facts(tag="latest", vulns={"critical": 0})) is False


def test_no_rules_always_hold() -> None:
    assert evaluate(parse_rules([]), facts()) is True


def test_parsed_rules_round_trip() -> None:
    raw = [{"field": "tag", "operator": "oo", "values": ["a", "b"]}]
    parsed = parse_rules(raw)
    assert parsed == (Rule("tag", "oo", ("a", "b")),)
    assert [r.as_json() for r in parsed] == raw


def test_every_field_has_operators() -> None:
    assert set(FIELDS) == {
        "tag",
        "component.name",
        "license.name",
        "updated_at",
        "updated_at_duration",
        "vulnerability_all",
        "vulnerability_critical",
        "vulnerability_major",
        "vulnerability_minor",
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"field": "tag"}, "rules must be a list"),
        (["tag"], "rule 1: must be an object"),
        (
            [{"field": "digest", "operator": "eq", "values": ["x"]}],
            "rule 1 (digest eq): unknown field",
        ),
        (
            [{"field": "tag", "operator": "gte", "values": ["x"]}],
            "rule 1 (tag gte): operator 'gte'",
        ),
        (
            [{"field": "license.name", "operator": "eq", "values": ["x"]}],
            "rule 1 (license.name eq)",
        ),
        ([R("tag", "eq", "x")], "values must be a list of strings"),
        ([R("tag", "eq", [1])], "values must be a list of strings"),
        ([R("tag", "eq", [])], "values must not be empty"),
        (
            [{"field": "tag", "operator": "sw", "values": ["a", "b"]}],
            "rule 1 (tag sw): takes exactly one value",
        ),
        (
            [{"field": "vulnerability_all", "operator": "lt", "values": ["-1"]}],
            "not a non-negative integer",
        ),
        (
            [{"field": "vulnerability_all", "operator": "lt", "values": ["many"]}],
            "not a non-negative integer",
        ),
        (
            [{"field": "updated_at", "operator": "bf", "values": ["yesterday"]}],
            "not an RFC 3339 timestamp",
        ),
        (
            [{"field": "updated_at", "operator": "bf", "values": ["2026-01-01"]}],
            "not an RFC 3339 timestamp",
        ),
        (
            [{"field": "updated_at", "operator": "bf", "values": ["2026-01-01T00:00:00"]}],
            "RFC 3339",
        ),
        ([R("tag", "eq", ["x" * 2000])], "at most"),
        ([R("tag", "eq", ["x"])] * 101, "at most 100 rules"),
    ],
)
def test_bad_rules_are_refused_naming_the_rule(raw: object, message: str) -> None:
    with pytest.raises(RuleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_rules(raw)


def test_the_error_names_the_failing_rule_by_position() -> None:
    raw = [
        {"field": "tag", "operator": "sw", "values": ["v"]},
        {"field": "tag", "operator": "sw", "values": []},
    ]
    with pytest.raises(RuleError, match=r"^rule 2 \(tag sw\)"):
        parse_rules(raw)


def test_needs_scan() -> None:
    assert needs_scan(rule("tag", "eq", "x")) is False
    assert needs_scan(rule("vulnerability_all", "eq", "0")) is True
    assert needs_scan(rule("license.name", "oo", "MIT")) is True
    assert needs_scan(rule("component.name", "noo", "zlib")) is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P7D", timedelta(days=7)),
        ("p2w", timedelta(weeks=2)),
        ("PT12H", timedelta(hours=12)),
        ("P1DT6H30M", timedelta(days=1, hours=6, minutes=30)),
        ("PT90S", timedelta(seconds=90)),
        ("7d", timedelta(days=7)),
        ("24h", timedelta(hours=24)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2w3d", timedelta(weeks=2, days=3)),
        (" 45s ", timedelta(seconds=45)),
    ],
)
def test_durations_in_each_form(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "P1DT", "P1Y", "P1M", "7", "d7", "7 days", "-7d", "0d", "PT0S", "1.5h"]
)
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


NOW = datetime(2026, 6, 8, 12, 0, tzinfo=UTC)  # facts() was updated 7 days before


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("af", "P8D", True),  # updated within the last 8 days
        ("af", "6d", False),
        ("bf", "6d", True),  # older than 6 days
        ("bf", "192h", False),
        ("af", "PT169H", True),
        ("bf", "PT167H", True),
    ],
)
def test_updated_at_duration_counts_back_from_now(
    operator: str, value: str, expected: bool
) -> None:
    assert evaluate(rule("updated_at_duration", operator, value), facts(), NOW) is expected


def test_updated_at_duration_defaults_to_the_current_time() -> None:
    fresh = facts(updated_at=datetime.now(UTC) - timedelta(hours=1))
    assert evaluate(rule("updated_at_duration", "af", "1d"), fresh) is True
    assert evaluate(rule("updated_at_duration", "bf", "1d"), fresh) is False


def test_a_bad_duration_rule_is_refused_naming_it() -> None:
    raw = [
        {"field": "tag", "operator": "sw", "values": ["v"]},
        {"field": "updated_at_duration", "operator": "af", "values": ["a week"]},
    ]
    with pytest.raises(RuleError, match=r"^rule 2 \(updated_at_duration af\): 'a week' is not"):
        parse_rules(raw)
    with pytest.raises(RuleError, match="exactly one value"):
        parse_rules([R("updated_at_duration", "bf", ["1d", "2d"])])
    with pytest.raises(RuleError, match="operator 'eq' does not apply"):
        parse_rules([R("updated_at_duration", "eq", ["1d"])])
