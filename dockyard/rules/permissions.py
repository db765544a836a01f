"""The pure permission rules of MSR: access levels and how grants combine.

No database here: `auth/access.py` gathers the facts and calls `resolve_repository_access`;
listings filter with `repository_access_filter` (and `namespace_access_filter`), the same rules
rendered as SQLAlchemy expressions over columns the caller passes in (no I/O, no domain models
imported here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from sqlalchemy import ColumnElement, and_, false, or_, true


class AccessLevel(IntEnum):
    NONE = 0
    READ_ONLY = 1
    READ_WRITE = 2
    ADMIN = 3

    @property
    def wire(self) -> str:
        return _WIRE[self]

    @classmethod
    def from_wire(cls, value: str) -> AccessLevel:
        for level, name in _WIRE.items():
            if name == value and level is not AccessLevel.NONE:
                return level
        raise ValueError(f"unknown access level {value!r}")


_WIRE = {
    AccessLevel.NONE: "",
    AccessLevel.READ_ONLY: "read-only",
    AccessLevel.READ_WRITE: "read-write",
    AccessLevel.ADMIN: "admin",
}


@dataclass(frozen=True)
class AccessFacts:
    """Everything the rules need to know about one principal and one namespace/repository.

    There is no "is the account active" fact: a deactivated account never becomes a principal
    (signing in, API tokens and web sessions all refuse it)."""

    authenticated: bool = False
    is_registry_admin: bool = False
    owns_namespace: bool = False  # the user's own namespace
    is_org_owner: bool = False  # org member with isAdmin
    is_org_member: bool = False
    repository_public: bool = False
    team_levels: Iterable[AccessLevel] = field(default_factory=tuple)


def resolve_repository_access(facts: AccessFacts) -> AccessLevel:
    """The highest level any rule grants (MSR: grants are additive, the highest wins).

    `repository_access_filter` below renders this same rule in SQL for listings; a test
    enumerates the facts and checks the two agree: change them together."""
    if facts.is_registry_admin or facts.owns_namespace or facts.is_org_owner:
        return AccessLevel.ADMIN
    # Team grants count for members of the organization only (`auth.access` gathers them for
    # members; the SQL rendering checks membership alongside).
    level = AccessLevel.NONE
    if facts.is_org_member:
        level = max(facts.team_levels, default=AccessLevel.NONE)
    if facts.repository_public:
        level = max(level, AccessLevel.READ_ONLY)
    return AccessLevel(level)


def resolve_namespace_access(facts: AccessFacts) -> AccessLevel:
    """Access to a namespace as a whole: creating repositories needs ADMIN here
    (owner, org owner, a team with namespace admin, or a registry admin)."""
    if facts.is_registry_admin or facts.owns_namespace or facts.is_org_owner:
        return AccessLevel.ADMIN
    return AccessLevel(max(facts.team_levels, default=AccessLevel.NONE))


@dataclass(frozen=True)
class RepositoryFactsSQL:
    """The facts of `AccessFacts` as SQL boolean expressions, one value per repository row.

    The caller (a domain's listing query) builds them from its own tables, so this layer knows
    no domain model. A fact the caller leaves out is false (an anonymous caller gives only
    `repository_public`). `team_level_in(levels)` is true where one of the caller's teams holds
    a grant of one of these wire levels on the repository or its namespace.
    """

    repository_public: ColumnElement[bool]
    is_registry_admin: ColumnElement[bool] = field(default_factory=false)
    owns_namespace: ColumnElement[bool] = field(default_factory=false)
    is_org_owner: ColumnElement[bool] = field(default_factory=false)
    is_org_member: ColumnElement[bool] = field(default_factory=false)
    team_level_in: Callable[[tuple[str, ...]], ColumnElement[bool]] = lambda _levels: false()


def repository_access_filter(facts: RepositoryFactsSQL, need: AccessLevel) -> ColumnElement[bool]:
    """SQL rendering of `resolve_repository_access(...) >= need`: a WHERE clause for listings."""
    if need is AccessLevel.NONE:
        return true()
    team_levels = tuple(level.wire for level in AccessLevel if level >= need)
    grants = [
        facts.is_registry_admin,
        facts.owns_namespace,
        facts.is_org_owner,
        and_(facts.is_org_member, facts.team_level_in(team_levels)),
    ]
    if need <= AccessLevel.READ_ONLY:
        grants.append(facts.repository_public)
    return or_(*grants)


@dataclass(frozen=True)
class NamespaceFactsSQL:
    """The facts of `AccessFacts` about a namespace as SQL boolean expressions, one value per
    namespace row (no repository: nothing public). A fact the caller leaves out is false;
    `team_level_in(levels)` is true where one of the caller's teams holds a namespace grant of
    one of these wire levels (the caller counts members' teams only, as `auth.access` does)."""

    is_registry_admin: ColumnElement[bool] = field(default_factory=false)
    owns_namespace: ColumnElement[bool] = field(default_factory=false)
    is_org_owner: ColumnElement[bool] = field(default_factory=false)
    team_level_in: Callable[[tuple[str, ...]], ColumnElement[bool]] = lambda _levels: false()


def namespace_access_filter(facts: NamespaceFactsSQL, need: AccessLevel) -> ColumnElement[bool]:
    """SQL rendering of `resolve_namespace_access(...) >= need`: a WHERE clause for listings
    (a test enumerates the facts and checks the two agree: change them together)."""
    if need is AccessLevel.NONE:
        return true()
    team_levels = tuple(level.wire for level in AccessLevel if level >= need)
    return or_(
        facts.is_registry_admin,
        facts.owns_namespace,
        facts.is_org_owner,
        facts.team_level_in(team_levels),
    )


def level_cap(actions: frozenset[str]) -> AccessLevel:
    """The highest access level a registry token's granted actions allow."""
    if "*" in actions:
        return AccessLevel.ADMIN
    if "push" in actions or "delete" in actions:
        return AccessLevel.READ_WRITE
    if "pull" in actions:
        return AccessLevel.READ_ONLY
    return AccessLevel.NONE
