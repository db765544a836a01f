"""The policy tabs' shared form parts: the rules editor (its rows read from a form as MSR rules,
stored rules in words), a service error as a sentence for the page, and the admin-only view of
a repository both tabs start from. Used by `policy_pages` (Promotions) and `mirror_pages`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.errors import DockyardError
from dockyard.policies.rules import FIELDS
from dockyard.repos.models import Repository, Tag
from dockyard.ui.render import FORBIDDEN, Page, form_value
from dockyard.ui.repo_pages import RepoView, load_repo

RULE_ROWS = 3  # empty rule rows a form offers without JavaScript
MAX_RULE_ROWS = 50
TAG_CHOICES = 200  # the newest tags offered as suggestions for a tag field

FIELD_LABELS = {
    "tag": "Tag",
    "vulnerability_all": "All vulnerabilities",
    "vulnerability_critical": "Critical vulnerabilities",
    "vulnerability_major": "Major vulnerabilities",
    "vulnerability_minor": "Minor vulnerabilities",
    "component.name": "Component name",
    "license.name": "License name",
    "updated_at": "Updated",
}
OPERATOR_LABELS = {
    "eq": "equals",
    "neq": "does not equal",
    "sw": "starts with",
    "ew": "ends with",
    "c": "contains",
    "oo": "is one of",
    "noo": "is not one of",
    "gte": "is at least",
    "gt": "is more than",
    "lte": "is at most",
    "lt": "is less than",
    "bf": "is before",
    "af": "is after",
}
EDITOR = {
    "fields": FIELD_LABELS,
    "operators": OPERATOR_LABELS,
    "applies": {field: sorted(ops) for field, ops in FIELDS.items()},
}


def describe_rule(rule: Any) -> str:
    """One stored rule in words: 'Tag starts with "v"', 'Critical vulnerabilities equals 0'."""
    if not isinstance(rule, dict):
        return str(rule)
    field, operator = str(rule.get("field", "")), str(rule.get("operator", ""))
    values = [str(v) for v in rule.get("values") or []]
    shown = ", ".join(f'"{v}"' if field == "tag" else v for v in values)
    return f"{FIELD_LABELS.get(field, field)} {OPERATOR_LABELS.get(operator, operator)} {shown}"


def rules_from_form(form: dict[str, Any]) -> list[dict[str, Any]]:
    """The editor's rows (`rule-N-field`, `-operator`, `-values`) as MSR rules; a row without a
    field is empty and skipped; values are comma-separated. The service checks the rest."""
    rules = []
    for index in range(MAX_RULE_ROWS):
        field = form_value(form, f"rule-{index}-field")
        if not field:
            continue
        values = [v.strip() for v in form_value(form, f"rule-{index}-values").split(",")]
        rules.append(
            {
                "field": field,
                "operator": form_value(form, f"rule-{index}-operator"),
                "values": [v for v in values if v],
            }
        )
    return rules


def rule_rows(rules: list[Any]) -> list[dict[str, str]]:
    """The editor's rows for a form: the rules entered so far, then empty rows."""
    rows = [
        {
            "field": str(rule.get("field", "")),
            "operator": str(rule.get("operator", "")),
            # Not "values": in a template `row.values` would be the dict's method.
            "text": ", ".join(str(v) for v in rule.get("values") or []),
        }
        for rule in rules
        if isinstance(rule, dict)
    ]
    empty = max(RULE_ROWS - len(rows), 1)
    return rows + [{"field": "", "operator": "", "text": ""} for _ in range(empty)]


def explain(exc: DockyardError | ValidationError) -> str:
    """A service error as a sentence for the page (its message, and the facts it names)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))
    text = exc.message
    if isinstance(exc.detail, dict):
        extra = [f"{k}: {v}" for k, v in exc.detail.items() if str(v) not in text]
        if extra:
            text += f" ({', '.join(extra)})"
    return text


async def admin_view(page: Page, session: AsyncSession, namespace: str, name: str) -> RepoView:
    view = await load_repo(page, session, namespace, name)
    if not view.is_admin:
        raise FORBIDDEN
    return view


async def recent_tags(session: AsyncSession, repo: Repository) -> list[str]:
    """The newest tags' names, as suggestions (one query with a limit, however many tags)."""
    stmt = (
        select(Tag.name)
        .where(Tag.repository_id == repo.id)
        .order_by(Tag.updated_at.desc(), Tag.name)
        .limit(TAG_CHOICES)
    )
    return list(await session.scalars(stmt))
