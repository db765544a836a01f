"""Who may subscribe to which key, and who may manage a subscription (MSR's rules).

Repository admin for repository events, namespace owner (admin access to the namespace) for
REPO_EVENT, registry admin for SCANNER_UPDATE_COMPLETED and for omitting `key`. Reads only;
no HTTP here.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account
from dockyard.accounts.principal import Principal
from dockyard.auth.access import namespace_access, repository_access
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.types import EVENT_TYPES, EventType, Scope
from dockyard.repos.service import get_repository
from dockyard.rules.permissions import AccessLevel
from dockyard.webhooks.checks import ResolvedType
from dockyard.webhooks.models import Subscription


async def account_by_name(session: AsyncSession, name: str) -> Account | None:
    account: Account | None = await session.scalar(select(Account).where(Account.name == name))
    return account


def _bad_key(message: str, key: str | None = None) -> DockyardError:
    detail: dict[str, str] = {"field": "key"}
    if key is not None:
        detail["value"] = key
    return DockyardError(ErrorCode.INVALID_WEBHOOK_KEY, message, detail=detail)


def _split_repo_key(key: str) -> tuple[str, str]:
    ns, sep, name = key.partition("/")
    if not sep or not ns or not name or "/" in name:
        raise _bad_key('key must be "namespace/repository" for repository events.', key)
    return ns, name


async def check_key_access(
    session: AsyncSession, principal: Principal, rtype: ResolvedType, key: str
) -> None:
    """Raise unless `principal` may subscribe to `rtype` on `key` (validated for shape)."""
    scope = EVENT_TYPES[rtype.event_type].scope
    if scope is Scope.GLOBAL:
        if key:
            raise _bad_key(f"{rtype.wire} is a global event and takes no key.", key)
        if not principal.is_admin:
            raise DockyardError(
                ErrorCode.NOT_AUTHORIZED, f"Only a registry admin may subscribe to {rtype.wire}."
            )
        return
    if not key:
        if not principal.is_admin:
            raise _bad_key(
                "key is required: only a registry admin may subscribe to every "
                "repository or namespace."
            )
        return
    if scope is Scope.REPOSITORY:
        await _check_repository_key(session, principal, rtype, key)
    else:
        await _check_namespace_key(session, principal, rtype, key)


async def _check_repository_key(
    session: AsyncSession, principal: Principal, rtype: ResolvedType, key: str
) -> None:
    ns_name, repo_name = _split_repo_key(key)
    if await account_by_name(session, ns_name) is None:
        raise DockyardError(ErrorCode.NO_SUCH_ACCOUNT, detail={"field": "key"})
    repo = await get_repository(session, ns_name, repo_name)
    level = AccessLevel.NONE
    if repo is not None:
        level = await repository_access(session, principal, repo)
    # A private repository the caller cannot read is answered as a missing one: a 403
    # would confirm that the name exists.
    if repo is None or level < AccessLevel.READ_ONLY:
        raise DockyardError(ErrorCode.NO_SUCH_REPOSITORY, detail={"field": "key"})
    if level < AccessLevel.ADMIN:
        raise DockyardError(
            ErrorCode.NOT_AUTHORIZED,
            f"Subscribing to {rtype.wire} on {key} needs admin access to the repository.",
        )


async def _check_namespace_key(
    session: AsyncSession, principal: Principal, rtype: ResolvedType, key: str
) -> None:
    if "/" in key or len(key) > 255:
        raise _bad_key(f'key must be a namespace ("namespace") for {rtype.wire}.', key)
    account = await account_by_name(session, key)
    if account is None:
        raise DockyardError(ErrorCode.NO_SUCH_ACCOUNT, detail={"field": "key"})
    if await namespace_access(session, principal, account) < AccessLevel.ADMIN:
        raise DockyardError(
            ErrorCode.NOT_AUTHORIZED,
            f"Subscribing to {rtype.wire} on {key} needs owner access to the namespace.",
        )


async def can_manage(session: AsyncSession, principal: Principal, sub: Subscription) -> bool:
    """A registry admin, or an admin of the resource the subscription is on."""
    if principal.is_admin:
        return True
    if not sub.key:
        return False
    scope = EVENT_TYPES[EventType(sub.event_type)].scope
    if scope is Scope.REPOSITORY:
        ns_name, _, repo_name = sub.key.partition("/")
        repo = await get_repository(session, ns_name, repo_name)
        if repo is None:
            return False
        return await repository_access(session, principal, repo) >= AccessLevel.ADMIN
    account = await account_by_name(session, sub.key)
    if account is None:
        return False
    return await namespace_access(session, principal, account) >= AccessLevel.ADMIN
