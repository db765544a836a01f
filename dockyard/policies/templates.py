"""Tag templates for promotion and push mirroring (pure): ``%n`` and MSR's date placeholders."""

from __future__ import annotations

import re
from datetime import datetime

# MSR's placeholders: %n is the tag being promoted; the others are strftime's.
DATE_PLACEHOLDERS = frozenset("AawdBbmYyHIpMSfZjW")
_PLACEHOLDER = re.compile(r"%(.)", re.DOTALL)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


class TemplateError(ValueError):
    """A template with an unknown placeholder, or one that renders to an invalid tag."""


def check_tag_template(template: str) -> None:
    """Raise TemplateError for a placeholder MSR does not list (``%%`` is a literal ``%``)."""
    for match in _PLACEHOLDER.finditer(template):
        letter = match.group(1)
        if letter not in DATE_PLACEHOLDERS and letter not in "n%":
            raise TemplateError(f"unknown placeholder %{letter} in tag template {template!r}")
    if "%" in _PLACEHOLDER.sub("", template):
        raise TemplateError(f"a lone % ends tag template {template!r}")


def _render_date(letter: str, now: datetime) -> str:
    if letter == "Z":
        return now.tzname() or "UTC"
    if letter == "p":
        return "AM" if now.hour < 12 else "PM"
    return now.strftime(f"%{letter}")


def render_tag_template(template: str, tag: str, now: datetime) -> str:
    """The target tag: ``""`` keeps the tag; ``%n`` is the tag; dates are rendered from ``now``."""
    if not template:
        return tag
    check_tag_template(template)

    def replace(match: re.Match[str]) -> str:
        letter = match.group(1)
        if letter == "n":
            return tag
        if letter == "%":
            return "%"
        return _render_date(letter, now)

    return _PLACEHOLDER.sub(replace, template)


def is_valid_tag(tag: str) -> bool:
    """The distribution spec's tag grammar."""
    return _TAG.fullmatch(tag) is not None
