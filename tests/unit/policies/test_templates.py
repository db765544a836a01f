"""Tag templates: %n and MSR's date placeholders."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dockyard.policies.templates import (
    TemplateError,
    check_tag_template,
    is_valid_tag,
    render_tag_template,
)

NOW = datetime(2026, 3, 4, 15, 6, 7, 890123, tzinfo=UTC)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("", "v1"),
        ("%n", "v1"),
        ("prod-%n", "prod-v1"),
        ("%n-%Y%m%d", "v1-20260304"),
        ("%A", "Wednesday"),
        ("%a", "Wed"),
        ("%w", "3"),
        ("%d", "04"),
        ("%B", "March"),
        ("%b", "Mar"),
        ("%m", "03"),
        ("%Y", "2026"),
        ("%y", "26"),
        ("%H", "15"),
        ("%I", "03"),
        ("%p", "PM"),
        ("%M", "06"),
        ("%S", "07"),
        ("%f", "890123"),
        ("%Z", "UTC"),
        ("%j", "063"),
        ("%W", "09"),
        ("100%%", "100%"),
        ("%n_%n", "v1_v1"),
    ],
)
def test_placeholders(template: str, expected: str) -> None:
    assert render_tag_template(template, "v1", NOW) == expected


def test_morning_is_am() -> None:
    assert render_tag_template("%p", "v1", NOW.replace(hour=9)) == "AM"


def test_a_tag_with_a_percent_sign_is_not_rendered_again() -> None:
    assert render_tag_template("%n-%Y", "%Y", NOW) == "%Y-2026"


@pytest.mark.parametrize("template", ["%q", "v%", "%n%x", "%c"])
def test_unknown_placeholders_are_refused(template: str) -> None:
    with pytest.raises(TemplateError):
        check_tag_template(template)
    with pytest.raises(TemplateError):
        render_tag_template(template, "v1", NOW)


def test_valid_tags() -> None:
    assert is_valid_tag("v1.2.3_rc-1")
    assert not is_valid_tag("-v1")
    assert not is_valid_tag("a" * 129)
    assert not is_valid_tag("v1:2")
