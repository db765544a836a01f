"""May a subscription's author still subscribe to what it is on? The rule of creating one
(`webhooks.service.check_key_access`: repository admin, namespace owner, registry admin for
global or key-less subscriptions), read again when events are dispatched, so access lost later
(removed from the organization, demoted, deactivated, deleted) stops the deliveries.

Checked when events are matched to subscriptions (dispatch) and again before a retry is sent
(the claim). Answers are cached for one batch. Lean on purpose (it runs in the delivery process):
the facts come through `auth.access` and the rules from `auth.permissions`; no JWT, no HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account
from dockyard.accounts.principal import Principal
from dockyard.auth.access import namespace_access, repository_access
from dockyard.events.types import EVENT_TYPES, EventType, Scope
from dockyard.repos.models import Repository
from dockyard.rules.permissions import AccessLevel
from dockyard.webhooks.models import Subscription

_SUBS: Table = Subscription.__table__  # type: ignore[assignment]


class AuthorAccess:
    """One dispatch batch's answers: `lost_access(...)` is None while the author may still
    subscribe, else the reason (shown as the subscription's `inactiveReason`)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._authors: dict[str, Account | None] = {}
        self._answers: dict[tuple[str, str, str], str | None] = {}

    async def load(self, author_ids: Iterable[str]) -> None:
        """Read the batch's authors in one query."""
        wanted = {a for a in author_ids if a not in self._authors}
        if not wanted:
            return
        rows = await self._session.scalars(select(Account).where(Account.id.in_(wanted)))
        found = {account.id: account for account in rows}
        for author_id in wanted:
            self._authors[author_id] = found.get(author_id)

    async def lost_access(self, author_id: str, event_type: str, key: str) -> str | None:
        try:
            scope = EVENT_TYPES[EventType(event_type)].scope
        except ValueError:
            return None  # a type this version does not know: leave it to the subscription
        cache_key = (author_id, scope.value if key else "", key)
        if cache_key not in self._answers:
            self._answers[cache_key] = await self._check(author_id, scope, key)
        return self._answers[cache_key]

    async def _check(self, author_id: str, scope: Scope, key: str) -> str | None:
        if author_id not in self._authors:
            await self.load([author_id])
        author = self._authors.get(author_id)
        if author is None:
            return "The author's account no longer exists."
        if not author.is_active:
            return f"The author {author.name} is deactivated."
        if author.is_admin:
            # Admin of everything; whether the key still exists is the lifecycle's business
            # (a deleted repository takes its subscriptions with it).
            return None
        if scope is Scope.GLOBAL or not key:
            what = "these events" if scope is Scope.GLOBAL else "every repository"
            return f"The author {author.name} is no longer a registry admin (needed for {what})."
        principal = Principal(author.id, author.name, False)
        if scope is Scope.REPOSITORY:
            namespace, _, name = key.partition("/")
            repo = await self._session.scalar(
                select(Repository).where(Repository.namespace == namespace, Repository.name == name)
            )
            if repo is None:
                return f"The repository {key} no longer exists."
            level = await repository_access(self._session, principal, repo)
        else:
            account = await self._session.scalar(select(Account).where(Account.name == key))
            if account is None:
                return f"The namespace {key} no longer exists."
            level = await namespace_access(self._session, principal, account)
        if level < AccessLevel.ADMIN:
            return f"The author {author.name} no longer has admin access to {key}."
        return None


async def deactivate_lost(session: AsyncSession, subs: Iterable[Any]) -> dict[str, str]:
    """Of these subscription rows (id, author_id, event_type, key), deactivate those whose
    author may no longer subscribe, with the reason; returns {id: reason}. The caller commits."""
    rows = list(subs)
    access = AuthorAccess(session)
    await access.load({row.author_id for row in rows})
    lost: dict[str, str] = {}
    for row in rows:
        reason = await access.lost_access(row.author_id, row.event_type, row.key)
        if reason is not None:
            lost[row.id] = reason
    by_reason: dict[str, list[str]] = {}
    for sub_id, reason in lost.items():
        by_reason.setdefault(reason, []).append(sub_id)
    for reason, ids in by_reason.items():
        await session.execute(
            update(_SUBS)
            .where(_SUBS.c.id.in_(ids), _SUBS.c.inactive.is_(False))
            .values(inactive=True, inactive_reason=reason)
        )
    return lost
