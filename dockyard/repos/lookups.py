"""The lookups the repositories API's routes share: a namespace by name, a repository the caller
holds a level on (404 when they may not even read it), the namespace-admin check.

Route-side helpers (they answer with API errors); both `repos.routes` and `repos.access_routes`
use them, so neither imports the other. Decisions come from `auth.access`; none are made here.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account
from dockyard.accounts.principal import Principal
from dockyard.auth.access import namespace_access, repository_access
from dockyard.auth.orgs import forbidden
from dockyard.errors import DockyardError, ErrorCode
from dockyard.repos import service as repos
from dockyard.repos.models import Repository
from dockyard.rules.permissions import AccessLevel


def denied(principal: Principal | None, what: str) -> DockyardError:
    if principal is None:
        return DockyardError(ErrorCode.NOT_AUTHENTICATED, f"Sign in to {what}.")
    return forbidden(f"You are not allowed to {what}.")


async def require_namespace_admin(
    session: AsyncSession, principal: Principal, account: Account, what: str
) -> None:
    if await namespace_access(session, principal, account) < AccessLevel.ADMIN:
        raise denied(principal, what)


async def namespace_named(session: AsyncSession, name: str) -> Account:
    account = await accounts.get_account(session, name)
    if account is None or account.name != name:
        raise DockyardError(ErrorCode.NO_SUCH_ACCOUNT, detail={"namespace": name[:300]})
    return account


async def repository_for(
    session: AsyncSession,
    principal: Principal | None,
    namespace: str,
    name: str,
    need: AccessLevel,
    what: str,
) -> tuple[Repository, Account]:
    """The repository and its namespace when the caller holds `need` on it."""
    account = await namespace_named(session, namespace)
    repo = await repos.get_repository(session, namespace, name)
    level = AccessLevel.NONE if repo is None else await repository_access(session, principal, repo)
    if repo is None or level < AccessLevel.READ_ONLY:
        # The same answer for "missing" and "private and not yours": a 401/403 would confirm
        # that the name exists.
        raise DockyardError(
            ErrorCode.NO_SUCH_REPOSITORY,
            "The repository does not exist, or you are not allowed to see it"
            + (" (sign in to see private repositories)." if principal is None else "."),
            detail={"repository": f"{namespace}/{name}"[:600]},
        )
    if level < need:
        raise denied(principal, what)
    return repo, account
