"""Account-level authorization: is the caller a registry admin, an organization's owner or member.

Repository and namespace decisions go through `auth.access`; these answer only the questions the
accounts API (and the repositories API's team pages) ask about organizations. Raise
`DockyardError(NOT_AUTHORIZED)`; no HTTP here.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account
from dockyard.accounts.principal import Principal
from dockyard.auth.access import org_membership
from dockyard.errors import DockyardError, ErrorCode


def forbidden(message: str = "You are not allowed to do this.") -> DockyardError:
    return DockyardError(ErrorCode.NOT_AUTHORIZED, message)


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise forbidden("Only registry administrators may do this.")


async def is_org_owner(session: AsyncSession, principal: Principal, org: Account) -> bool:
    if principal.is_admin:
        return True
    row = await org_membership(session, principal, org)
    return row is not None and row.is_admin


async def is_org_member(session: AsyncSession, principal: Principal, org: Account) -> bool:
    return principal.is_admin or await org_membership(session, principal, org) is not None


async def require_org_owner(session: AsyncSession, principal: Principal, org: Account) -> None:
    if not await is_org_owner(session, principal, org):
        raise forbidden(f"Only owners of '{org.name}' and administrators may do this.")


async def require_org_member(session: AsyncSession, principal: Principal, org: Account) -> None:
    if not await is_org_member(session, principal, org):
        raise forbidden(f"Only members of '{org.name}' and administrators may see this.")
