"""The repositories a principal can read, one page at a time, from indexes only.

The read rule (`rules.permissions.repository_access_filter`, through
`repos.service.readable_repositories`) decides; this module only narrows the rows the database
looks at first. A filter alone over the (namespace, name) order makes a user who can see 4 of
100,000 repositories walk all 100,000 to fill a page. So a page is read from the places a
readable repository can come from, each an index range in (namespace, name) order cut at the
page's size: public repositories, repositories in the caller's own namespace, the organizations
they belong to and the namespaces a team of theirs holds a grant on, and repositories a team of
theirs holds a grant on. The rule then filters that small candidate set (it stays the one
judge: a candidate it refuses is left out), which is ordered and cut again.

A registry bearer token that names repositories lists only those (its `registry:catalog:*`
scope is the caller's business: `registry/catalog.py` lifts the limit for it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, Select, select, tuple_, union
from sqlalchemy.sql.selectable import Subquery

from dockyard.accounts.models import Account, OrgMember, TeamMember
from dockyard.accounts.principal import Principal
from dockyard.repos.models import NamespaceTeamAccess, Repository, RepositoryTeamAccess
from dockyard.repos.service import readable_repositories
from dockyard.rules.permissions import level_cap

ORDER = (Repository.namespace, Repository.name)


def _after(start: tuple[str, str] | None, inclusive: bool) -> ColumnElement[bool] | None:
    if start is None:
        return None
    key = tuple_(*ORDER)
    return key >= tuple_(*start) if inclusive else key > tuple_(*start)


def _branch(
    where: ColumnElement[bool], after: ColumnElement[bool] | None, limit: int | None
) -> Subquery:
    """One source of candidates: an index range in page order, cut at the page's size."""
    stmt = select(Repository.id).where(where)
    if after is not None:
        stmt = stmt.where(after)
    # Wrapped: SQLite allows no ORDER BY/LIMIT on a member of a UNION.
    return stmt.order_by(*ORDER).limit(limit).subquery()


def _scoped_names(principal: Principal) -> list[tuple[str, str]]:
    """The repositories a bearer token lets its holder read (pull or more)."""
    names = set()
    for full, actions in principal.scopes or ():
        namespace, _sep, name = full.partition("/")
        if name and level_cap(actions) > 0:
            names.add((namespace, name))
    return sorted(names)


def _candidates(
    principal: Principal | None, after: ColumnElement[bool] | None, limit: int | None
) -> Select[Any] | CompoundSelect[Any] | None:
    """Ids of at most `limit` repositories per source after the start, a superset of the
    readable ones on this page. None: every repository is a candidate (an administrator).

    A source cut at the page's size must hold only repositories the rule lets the caller read
    (else a refused one could take the place of a readable one further on, which the page would
    then skip): each source below implies the rule's grant at READ_ONLY. A bearer token's names
    are few and not cut."""
    if principal is not None and principal.scopes is not None:
        names = _scoped_names(principal)
        wanted = tuple_(*ORDER).in_(names) if names else Repository.id.is_(None)
        return select(_branch(wanted, after, None).c.id)
    public = Repository.visibility == "public"
    if principal is None:
        return select(_branch(public, after, limit).c.id)
    if principal.is_admin:
        return None
    me = principal.account_id
    member_orgs = select(OrgMember.org_id).where(OrgMember.user_id == me)
    my_teams = select(TeamMember.team_id).where(TeamMember.user_id == me)
    # Whole namespaces: the caller's own, the organizations they own, and those where they are
    # a member whose team holds a namespace grant (every grant level allows reading).
    whole = union(
        member_orgs.where(OrgMember.is_admin.is_(True)),
        select(NamespaceTeamAccess.namespace_id).where(
            NamespaceTeamAccess.team_id.in_(my_teams),
            NamespaceTeamAccess.namespace_id.in_(member_orgs),
        ),
    )
    in_namespaces = (Repository.namespace_id == me) | Repository.namespace_id.in_(whole)
    granted = Repository.id.in_(
        select(RepositoryTeamAccess.repository_id).where(RepositoryTeamAccess.team_id.in_(my_teams))
    ) & Repository.namespace_id.in_(member_orgs)
    branches = [_branch(where, after, limit) for where in (public, in_namespaces, granted)]
    return union(*(select(b.c.id) for b in branches))


def candidates_filter(
    principal: Principal | None,
    start: tuple[str, str] | None,
    limit: int | None,
    *,
    inclusive: bool = False,
) -> ColumnElement[bool] | None:
    """A WHERE clause narrowing a readable-repositories statement paged in (namespace, name)
    order from `start` (after it, or from it when `inclusive`) to this page's candidates (all
    of them, for a count, when `limit` is None); None when every repository is one (an
    administrator: the order's index alone serves)."""
    candidates = _candidates(principal, _after(start, inclusive), limit)
    return None if candidates is None else Repository.id.in_(candidates)


def readable_page(
    principal: Principal | None,
    start: tuple[str, str] | None,
    limit: int,
    *,
    inclusive: bool = False,
    namespace: Account | None = None,
) -> Select[Repository, bool]:
    """At most `limit` (repository, namespace-is-an-organization) rows the principal may read
    (in `namespace` when given), in (namespace, name) order after `start` (from it when
    `inclusive`), in one statement."""
    stmt = readable_repositories(principal, namespace)
    narrow = candidates_filter(principal, start, limit, inclusive=inclusive)
    if narrow is not None:
        stmt = stmt.where(narrow)
    after = _after(start, inclusive)
    if after is not None:
        stmt = stmt.where(after)
    return stmt.order_by(*ORDER).limit(limit)
