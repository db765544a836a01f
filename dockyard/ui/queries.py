"""Read-only lookups the pages need to list things. Nothing is decided here: a list that
depends on a permission filters with that rule's SQL rendering (`rules.permissions`), so it
cannot disagree with the check `auth.access` makes on one object:

- the repository lists use the read rule's rendering, through `repos.service`, and are searched
  and paged in SQL (a window and a count: the pages number their pages; a search is not
  counted), over the caller's candidates read from indexes (`repos.visible`) when there is no
  search;
- the namespaces offered for a new repository use the namespace rule's rendering (ADMIN),
  through `repos.namespaces`;
- a repository's tags are listed for a page that has already checked read access on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account
from dockyard.accounts.principal import Principal
from dockyard.api.pagination import count_rows
from dockyard.repos.content import tag_counts
from dockyard.repos.models import Manifest, Repository, Tag
from dockyard.repos.namespaces import namespaces_with_access
from dockyard.repos.search import repository_search
from dockyard.repos.service import readable_repositories
from dockyard.repos.visible import candidates_filter
from dockyard.rules.permissions import AccessLevel
from dockyard.ui.windows import Window, keyset_window


@dataclass(frozen=True)
class RepoRow:
    repo: Repository
    tags: int


async def visible_repositories(
    session: AsyncSession,
    principal: Principal,
    search: str,
    offset: int,
    limit: int,
    namespace: str | None = None,
) -> tuple[list[RepoRow], int]:
    """The repositories `principal` may at least read (the read rule's SQL rendering, through
    repos.service), filtered by a search string and paged in SQL, with the total.

    Without a search, the page and the total read the caller's candidates from indexes
    (`repos.visible`), so they cost what the caller can see, not what the registry holds.

    A search (a substring, from a trigram index: `repos.search`) is not counted: the total is
    then a lower bound, the rows up to this page and one more when another page follows (the
    page reads one row past itself)."""
    ns_account = None
    if namespace is not None:
        ns_account = await session.scalar(select(Account).where(Account.name == namespace))
        if ns_account is None:
            return [], 0
    stmt = readable_repositories(principal, ns_account)
    matches = await repository_search(session, search)
    if matches is None:
        total = await _count(session, principal, ns_account)
        narrow = candidates_filter(principal, None, offset + limit)
        if narrow is not None:
            stmt = stmt.where(narrow)
    else:
        stmt = stmt.where(matches)
    page = stmt.order_by(Repository.namespace, Repository.name).offset(offset).limit(limit + 1)
    found = [repo for repo, _is_org in await session.execute(page)]
    window = found[:limit]
    if matches is not None:
        total = offset + len(found)
    counts = await tag_counts(session, [repo.id for repo in window])
    rows = [RepoRow(repo, counts.get(repo.id, 0)) for repo in window]
    return rows, total


async def _count(session: AsyncSession, principal: Principal, namespace: Account | None) -> int:
    """How many repositories the list holds: an administrator's counts the table alone (no
    join), a user's counts their candidates (all of them) filtered by the rule."""
    if principal.is_admin:
        stmt = select(func.count()).select_from(Repository)
        if namespace is not None:
            stmt = stmt.where(Repository.namespace_id == namespace.id)
        return int(await session.scalar(stmt) or 0)
    readable = readable_repositories(principal, namespace)
    narrow = candidates_filter(principal, None, None)
    if narrow is not None:
        readable = readable.where(narrow)
    return await count_rows(session, readable)


async def creatable_namespaces(session: AsyncSession, principal: Principal) -> list[Account]:
    """Namespaces where `principal` may create repositories (namespace ADMIN: the namespace
    rule's SQL rendering, through repos.namespaces), the user's own first: the usual choice."""
    stmt = namespaces_with_access(principal, AccessLevel.ADMIN)
    if principal.is_admin:
        # An administrator may create anywhere, but the list offers active namespaces only.
        stmt = stmt.where(Account.is_active.is_(True))
    found = list(await session.scalars(stmt))
    # Sorted here as before (Python's order of names, whatever the database's collation).
    found.sort(key=lambda a: (a.id != principal.account_id, a.name))
    return found


@dataclass(frozen=True)
class TagRow:
    tag: Tag
    media_type: str
    os: str
    architecture: str
    size: int


# The Tags tab's order, newest first: served by the index (repository_id, updated_at, id).
TAG_ORDER = (Tag.updated_at, Tag.id)


def _tags_with_manifests(repo: Repository) -> Select[Tag, Manifest]:
    return (
        select(Tag, Manifest)
        .outerjoin(
            Manifest,
            (Manifest.repository_id == Tag.repository_id) & (Manifest.digest == Tag.digest),
        )
        .where(Tag.repository_id == repo.id)
    )


def _tag_row(tag: Tag, manifest: Manifest | None) -> TagRow:
    if manifest is None:
        return TagRow(tag, "", "", "", 0)
    return TagRow(tag, manifest.media_type, manifest.os, manifest.architecture, manifest.image_size)


async def repository_tags(
    session: AsyncSession, repo: Repository, name: str | None = None, limit: int | None = None
) -> list[TagRow]:
    """Tags with their manifest's platform and size, newest first (or the one named), the
    first `limit` of them when given."""
    stmt = _tags_with_manifests(repo).order_by(*(c.desc() for c in TAG_ORDER))
    if name is not None:
        stmt = stmt.where(Tag.name == name)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_tag_row(tag, manifest) for tag, manifest in (await session.execute(stmt)).all()]


async def tags_window(
    session: AsyncSession, repo: Repository, search: str, start: str, size: int
) -> Window[TagRow]:
    """One page of the Tags tab, newest first, from the tag named `start` (the first page when
    it names none), filtered by a substring of the name: in SQL, over the index's order."""
    stmt = _tags_with_manifests(repo)
    if search:
        stmt = stmt.where(Tag.name.contains(search, autoescape=True))
    begin = None
    if start:
        found = await session.execute(
            select(*TAG_ORDER).where(Tag.repository_id == repo.id, Tag.name == start)
        )
        begin = found.first()
    window = await keyset_window(session, stmt, TAG_ORDER, begin, size, descending=True)
    return window.map(lambda row: _tag_row(row[0], row[1]), lambda row: row[0].name)


async def account_names(session: AsyncSession, ids: list[str]) -> dict[str, str]:
    """Account id -> name, for "created by" columns."""
    if not ids:
        return {}
    rows = await session.execute(select(Account.id, Account.name).where(Account.id.in_(ids)))
    return {account_id: name for account_id, name in rows}
