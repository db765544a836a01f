"""Moved to `dockyard.auth.orgs`; this re-export stays only until the repositories API imports
it from there (then this module is deleted)."""

from __future__ import annotations

from dockyard.auth.orgs import (
    forbidden,
    is_org_member,
    is_org_owner,
    require_admin,
    require_org_member,
    require_org_owner,
)

__all__ = [
    "forbidden",
    "is_org_member",
    "is_org_owner",
    "require_admin",
    "require_org_member",
    "require_org_owner",
]
