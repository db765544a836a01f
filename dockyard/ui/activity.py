"""A repository's or a namespace's recent activity, read from the event outbox: pushes, pulls,
deletes, promotions, mirroring, scans and repository changes, newest first, a page at a time.

The outbox keeps events for `event_retention_days` (webhooks/retention.py), so the activity
reaches back that far. A page is a keyset window over the (repository_key, seq) or
(namespace_key, seq) index; a kind filter narrows the event types. Who may see what is the
caller's business (`activity_pages`): a namespace's page for someone who does not own it is
limited to the repositories they may read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.events.models import OutboxEvent
from dockyard.events.types import EVENT_TYPES, EventType
from dockyard.repos.models import Repository
from dockyard.ui.windows import Window, keyset_window

PER_PAGE = 50

# The filter's kinds, in the order the page offers them.
KINDS: dict[str, tuple[str, tuple[EventType, ...]]] = {
    "push": ("Pushes", (EventType.TAG_PUSH, EventType.MANIFEST_PUSH)),
    "pull": ("Pulls", (EventType.TAG_PULL, EventType.MANIFEST_PULL)),
    "delete": ("Deletes", (EventType.TAG_DELETE, EventType.MANIFEST_DELETE)),
    "promotion": ("Promotions", (EventType.PROMOTION,)),
    "mirroring": ("Mirroring", (EventType.PUSH_MIRRORING, EventType.POLL_MIRRORING)),
    "scan": ("Scans", (EventType.SCAN_COMPLETED, EventType.SCAN_FAILED)),
    "repository": ("Repository changes", (EventType.REPO_EVENT,)),
}


@dataclass(frozen=True)
class ActivityRow:
    seq: int
    type: str
    label: str
    at: datetime
    actor: str
    repository: str  # "namespace/name", or "" for none
    tag: str
    digest: str
    detail: str


def _contents(event: OutboxEvent) -> dict[str, Any]:
    payload = event.payload if isinstance(event.payload, dict) else {}
    contents = payload.get("contents")
    return contents if isinstance(contents, dict) else {}


def _detail(kind: str, c: dict[str, Any]) -> str:
    """One line saying what happened beyond the type, tag and digest."""
    if kind == EventType.PROMOTION:
        p = c.get("promotion") or {}
        return (
            f"promoted from {p.get('sourceRepository', '?')}:{p.get('sourceTag', '?')} "
            f"to {p.get('targetRepository', '?')}:{p.get('targetTag', '?')}"
        )
    if kind in (EventType.PUSH_MIRRORING, EventType.POLL_MIRRORING):
        m = c.get("mirroring") or {}
        way = "to" if kind == EventType.PUSH_MIRRORING else "from"
        return f"mirrored {way} {m.get('remoteHost', '?')}/{m.get('remoteRepository', '?')}:" + str(
            m.get("remoteTag", "?")
        )
    if kind == EventType.SCAN_COMPLETED:
        s = c.get("scanSummary") or {}
        return (
            f"{s.get('critical', 0)} critical, {s.get('major', 0)} major, {s.get('minor', 0)} minor"
        )
    if kind == EventType.SCAN_FAILED:
        return f"failed: {c.get('error', '')}"
    if kind == EventType.REPO_EVENT:
        return {
            "REPO_CREATED": "repository created",
            "REPO_UPDATED": "repository settings changed",
            "REPO_DELETED": "repository deleted",
        }.get(str(c.get("event", "")), str(c.get("event", "")))
    return ""


def describe(event: OutboxEvent) -> ActivityRow:
    c = _contents(event)
    info = EVENT_TYPES.get(event.type)  # type: ignore[call-overload]  # a StrEnum key
    return ActivityRow(
        seq=event.seq,
        type=event.type,
        label=info.label if info else event.type,
        at=event.created_at,
        actor=event.actor or str(c.get("author", "")),
        repository=event.repository_key or "",
        tag=str(c.get("tag", "")),
        digest=str(c.get("digest", "")),
        detail=_detail(event.type, c),
    )


def _kind_filter(stmt: Select[Any], kind: str) -> Select[Any]:
    if kind in KINDS:
        stmt = stmt.where(OutboxEvent.type.in_([t.value for t in KINDS[kind][1]]))
    return stmt


async def _window(
    session: AsyncSession, stmt: Select[Any], start: str, size: int
) -> Window[ActivityRow]:
    begin = (int(start),) if start.isdigit() else None
    window = await keyset_window(session, stmt, (OutboxEvent.seq,), begin, size, descending=True)
    return window.map(lambda row: describe(row[0]), lambda row: str(row[0].seq))


def repository_events(key: str, kind: str = "") -> Select[Any]:
    """A repository's events ("namespace/name"), of one kind when given (unordered)."""
    return _kind_filter(select(OutboxEvent).where(OutboxEvent.repository_key == key), kind)


def namespace_events(
    namespace: str, readable: ColumnElement[bool] | None = None, kind: str = ""
) -> Select[Any]:
    """A namespace's events (its repositories' and its REPO_EVENTs), limited by `readable` (a
    condition on the event's repository_key) when the caller sees only some (unordered)."""
    stmt = select(OutboxEvent).where(OutboxEvent.namespace_key == namespace)
    if readable is not None:
        stmt = stmt.where(readable)
    return _kind_filter(stmt, kind)


async def repository_activity(
    session: AsyncSession, repo: Repository, kind: str, start: str, size: int = PER_PAGE
) -> Window[ActivityRow]:
    """A repository's events, newest first (its (repository_key, seq) index)."""
    return await _window(session, repository_events(repo.full_name, kind), start, size)


async def namespace_activity(
    session: AsyncSession,
    namespace: str,
    readable: ColumnElement[bool] | None,
    kind: str,
    start: str,
    size: int = PER_PAGE,
) -> Window[ActivityRow]:
    """A namespace's events, newest first (its (namespace_key, seq) index)."""
    return await _window(session, namespace_events(namespace, readable, kind), start, size)
