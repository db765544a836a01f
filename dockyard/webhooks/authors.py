"""May a subscription's author still subscribe to what it is on? The rule of creating one
(`webhooks.keys.check_key_access`: repository admin, namespace owner, registry admin for
global or key-less subscriptions), read again when events are dispatched, so access lost later
(removed from the organization, demoted, deactivated, deleted) stops the deliveries.

Checked when events are matched to subscriptions (dispatch) and again before a retry is sent
(the claim). Answers are cached for one batch. It runs in the delivery process, which never
imports authorization code (an import contract in .importlinter says so): the facts an
author's access rests on are read here, from the account and repository tables, and the pure
rules of `rules.permissions` decide, as `auth.access` does for requests. An author is never a
token holder, so no token scope narrows the answer. No JWT, no HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account, OrgMember, TeamMember
from dockyard.events.types import EVENT_TYPES, EventType, Scope
from dockyard.repos.models import NamespaceTeamAccess, Repository, RepositoryTeamAccess
from dockyard.rules.permissions import (
    AccessFacts,
    AccessLevel,
    resolve_namespace_access,
    resolve_repository_access,
)
from dockyard.webhooks.models import Subscription

_SUBS: Table = Subscription.__table__  # type: ignore[assignment]


async def author_facts(
    session: AsyncSession,
    author: Account,
    namespace: Account,
    repository: Repository | None,
) -> AccessFacts:
    """What the rules need about a (non-admin, active) author and a namespace or repository:
    ownership, organization membership and the author's teams' grants."""
    if namespace.id == author.id:
        return AccessFacts(authenticated=True, owns_namespace=True)
    if not namespace.is_org:
        return AccessFacts(authenticated=True)
    membership = await session.get(OrgMember, (namespace.id, author.id))
    if membership is None:
        return AccessFacts(authenticated=True)
    team_ids = select(TeamMember.team_id).where(TeamMember.user_id == author.id)
    wire = list(
        await session.scalars(
            select(NamespaceTeamAccess.access_level).where(
                NamespaceTeamAccess.namespace_id == namespace.id,
                NamespaceTeamAccess.team_id.in_(team_ids),
            )
        )
    )
    if repository is not None:
        wire += await session.scalars(
            select(RepositoryTeamAccess.access_level).where(
                RepositoryTeamAccess.repository_id == repository.id,
                RepositoryTeamAccess.team_id.in_(team_ids),
            )
        )
    return AccessFacts(
        authenticated=True,
        is_org_owner=membership.is_admin,
        is_org_member=True,
        team_levels=tuple(AccessLevel.from_wire(v) for v in wire),
    )


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
        if scope is Scope.REPOSITORY:
            level = await self._repository_level(author, key)
        else:
            level = await self._namespace_level(author, key)
        if level is None:
            return f"The {scope.value.lower()} {key} no longer exists."
        if level < AccessLevel.ADMIN:
            return f"The author {author.name} no longer has admin access to {key}."
        return None

    async def _repository_level(self, author: Account, key: str) -> AccessLevel | None:
        namespace_name, _, name = key.partition("/")
        repo = await self._session.scalar(
            select(Repository).where(
                Repository.namespace == namespace_name, Repository.name == name
            )
        )
        if repo is None:
            return None
        namespace = await self._session.get(Account, repo.namespace_id)
        if namespace is None:
            return AccessLevel.NONE
        facts = await author_facts(self._session, author, namespace, repo)
        return resolve_repository_access(facts)

    async def _namespace_level(self, author: Account, key: str) -> AccessLevel | None:
        namespace = await self._session.scalar(select(Account).where(Account.name == key))
        if namespace is None:
            return None
        return resolve_namespace_access(await author_facts(self._session, author, namespace, None))


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
