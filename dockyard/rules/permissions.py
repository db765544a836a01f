"""The pure permission rules of MSR: access levels and how grants combine.

No database here: `auth/access.py` gathers the facts and calls `resolve_repository_access`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum


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
    """The highest level any rule grants (MSR: grants are additive, the highest wins)."""
    if facts.is_registry_admin or facts.owns_namespace or facts.is_org_owner:
        return AccessLevel.ADMIN
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


def level_cap(actions: frozenset[str]) -> AccessLevel:
    """The highest access level a registry token's granted actions allow."""
    if "*" in actions:
        return AccessLevel.ADMIN
    if "push" in actions or "delete" in actions:
        return AccessLevel.READ_WRITE
    if "pull" in actions:
        return AccessLevel.READ_ONLY
    return AccessLevel.NONE
