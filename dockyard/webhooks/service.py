"""Webhook subscriptions: validate, authorize, create, list, update, delete, rotate secrets.

Access rules are MSR's: repository admin for repository events, namespace owner (admin
access to the namespace) for REPO_EVENT, registry admin for SCANNER_UPDATE_COMPLETED and for
omitting `key`. Subscriptions go with what they are on and with their author: deleting a
repository deletes the subscriptions on it, deleting an account deletes those it authored and
those on its namespace. Takes a session; the caller commits. No HTTP here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account
from dockyard.accounts.principal import Principal
from dockyard.auth.access import namespace_access, repository_access
from dockyard.clock import rfc3339, utcnow
from dockyard.config import Settings
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.types import EVENT_TYPES, REPO_EVENT_ALIASES, EventType, Scope
from dockyard.repos.service import get_repository
from dockyard.rules.permissions import AccessLevel
from dockyard.webhooks.models import Subscription
from dockyard.webhooks.signing import generate_secret
from dockyard.webhooks.transport import validate_endpoint, validate_tls_cert

SECRET_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True)
class Limits:
    """How many subscriptions one key (a repository, a namespace, or none) and one author may
    have: a bound on the fan-out of one event and on what one user can make the engine send."""

    per_key: int = 100
    per_user: int = 1000

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.webhook_max_per_key, settings.webhook_max_per_user)


@dataclass(frozen=True)
class ResolvedType:
    wire: str  # what the client sent (REPO_CREATED is kept as such)
    event_type: EventType
    repo_event_filter: str | None


def resolve_type(value: Any, field: str = "type") -> ResolvedType:
    if isinstance(value, str):
        if value in REPO_EVENT_ALIASES:
            return ResolvedType(value, EventType.REPO_EVENT, value)
        if value in EventType.__members__:
            return ResolvedType(value, EventType(value), None)
    allowed = [t.value for t in EventType] + list(REPO_EVENT_ALIASES)
    raise DockyardError(
        ErrorCode.INVALID_WEBHOOK_TYPE,
        f"{field} must be one of: {', '.join(allowed)}.",
        detail={"field": field, "value": value if isinstance(value, str) else None},
    )


def _bad(field: str, message: str) -> DockyardError:
    return DockyardError(ErrorCode.INVALID_PARAMETERS, message, detail={"field": field})


def optional_bool(body: dict[str, Any], field: str) -> bool | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _bad(field, f"{field} must be true or false.")
    return value


def optional_str(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(field, f"{field} must be a string.")
    return value


def subscription_wire(sub: Subscription, *, include_secret: bool = False) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "id": sub.id,
        "type": sub.type,
        "key": sub.key,
        "endpoint": sub.endpoint,
        "authorID": sub.author_id,
        "createdAt": rfc3339(sub.created_at),
        "lastSuccessfulAt": rfc3339(sub.last_successful_at),
        "inactive": sub.inactive,
        "tlsCert": sub.tls_cert,
        "skipTLSVerification": sub.skip_tls_verification,
        # dockyard extensions
        "inactiveReason": sub.inactive_reason,
        "consecutiveFailures": sub.consecutive_failures,
        "lastError": sub.last_error,
        "lastAttemptAt": rfc3339(sub.last_attempt_at),
    }
    if include_secret:
        wire["secret"] = sub.secret
    return wire


async def _account_by_name(session: AsyncSession, name: str) -> Account | None:
    account: Account | None = await session.scalar(select(Account).where(Account.name == name))
    return account


def _split_repo_key(key: str) -> tuple[str, str]:
    ns, sep, name = key.partition("/")
    if not sep or not ns or not name or "/" in name:
        raise DockyardError(
            ErrorCode.INVALID_WEBHOOK_KEY,
            'key must be "namespace/repository" for repository events.',
            detail={"field": "key", "value": key},
        )
    return ns, name


async def check_key_access(
    session: AsyncSession, principal: Principal, rtype: ResolvedType, key: str
) -> None:
    """Raise unless `principal` may subscribe to `rtype` on `key` (validated for shape)."""
    scope = EVENT_TYPES[rtype.event_type].scope
    if scope is Scope.GLOBAL:
        if key:
            raise DockyardError(
                ErrorCode.INVALID_WEBHOOK_KEY,
                f"{rtype.wire} is a global event and takes no key.",
                detail={"field": "key", "value": key},
            )
        if not principal.is_admin:
            raise DockyardError(
                ErrorCode.NOT_AUTHORIZED, f"Only a registry admin may subscribe to {rtype.wire}."
            )
        return
    if not key:
        if not principal.is_admin:
            raise DockyardError(
                ErrorCode.INVALID_WEBHOOK_KEY,
                "key is required: only a registry admin may subscribe to every "
                "repository or namespace.",
                detail={"field": "key"},
            )
        return
    if scope is Scope.REPOSITORY:
        ns_name, repo_name = _split_repo_key(key)
        if await _account_by_name(session, ns_name) is None:
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
        return
    if "/" in key or len(key) > 255:
        raise DockyardError(
            ErrorCode.INVALID_WEBHOOK_KEY,
            f'key must be a namespace ("namespace") for {rtype.wire}.',
            detail={"field": "key", "value": key},
        )
    account = await _account_by_name(session, key)
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
    account = await _account_by_name(session, sub.key)
    if account is None:
        return False
    return await namespace_access(session, principal, account) >= AccessLevel.ADMIN


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise DockyardError(ErrorCode.INVALID_JSON, "The body must be a JSON object.")
    return body


async def _check_limits(
    session: AsyncSession, principal: Principal, key: str, limits: Limits
) -> None:
    # Admins are held to the per-key cap too: it bounds one event's fan-out.
    on_key = await session.scalar(
        select(func.count()).select_from(Subscription).where(Subscription.key == key)
    )
    if (on_key or 0) >= limits.per_key:
        where = f"on {key}" if key else "without a key"
        raise DockyardError(
            ErrorCode.TOO_MANY_WEBHOOKS,
            f"There are already {limits.per_key} webhooks {where} (DOCKYARD_WEBHOOK_MAX_PER_KEY):"
            " delete one first.",
            detail={"field": "key", "limit": limits.per_key},
        )
    by_author = await session.scalar(
        select(func.count())
        .select_from(Subscription)
        .where(Subscription.author_id == principal.account_id)
    )
    if (by_author or 0) >= limits.per_user:
        raise DockyardError(
            ErrorCode.TOO_MANY_WEBHOOKS,
            f"You already have {limits.per_user} webhooks (DOCKYARD_WEBHOOK_MAX_PER_USER):"
            " delete one first.",
            detail={"limit": limits.per_user},
        )


async def create_subscription(
    session: AsyncSession,
    principal: Principal,
    body: Any,
    *,
    limits: Limits | None = None,
    now: datetime | None = None,
) -> Subscription:
    body = require_object(body)
    if "type" not in body:
        raise _bad("type", "type is required.")
    rtype = resolve_type(body.get("type"))
    key = optional_str(body, "key") or ""
    endpoint = validate_endpoint(body.get("endpoint"))
    tls_cert = validate_tls_cert(optional_str(body, "tlsCert"))
    skip = optional_bool(body, "skipTLSVerification") or False
    await check_key_access(session, principal, rtype, key)
    await _check_limits(session, principal, key, limits or Limits())
    sub = Subscription(
        type=rtype.wire,
        event_type=rtype.event_type.value,
        repo_event_filter=rtype.repo_event_filter,
        key=key,
        endpoint=endpoint,
        author_id=principal.account_id,
        created_at=now or utcnow(),
        inactive=False,
        inactive_reason="",
        tls_cert=tls_cert,
        skip_tls_verification=skip,
        secret=generate_secret(),
        consecutive_failures=0,
        last_error="",
    )
    session.add(sub)
    await session.flush()
    return sub


def _type_filter(webhook_type: str | None) -> ResolvedType | None:
    if webhook_type in (None, "", "any"):
        return None
    return resolve_type(webhook_type, "webhookType")


async def list_visible(
    session: AsyncSession, principal: Principal, webhook_type: str | None
) -> Sequence[Subscription]:
    """GET /api/v0/webhooks: a user's own subscriptions; an admin's: every one."""
    rtype = _type_filter(webhook_type)
    stmt = select(Subscription).order_by(Subscription.created_at, Subscription.id)
    if not principal.is_admin:
        stmt = stmt.where(Subscription.author_id == principal.account_id)
    if rtype is not None:
        stmt = stmt.where(Subscription.type == rtype.wire)
    return (await session.scalars(stmt)).all()


async def list_for_repository(
    session: AsyncSession, principal: Principal, namespace: str, name: str
) -> Sequence[Subscription]:
    repo = await get_repository(session, namespace, name)
    if repo is None:
        raise DockyardError(ErrorCode.NO_SUCH_REPOSITORY)
    level = await repository_access(session, principal, repo)
    if level < AccessLevel.ADMIN:
        if level < AccessLevel.READ_ONLY:
            raise DockyardError(ErrorCode.NO_SUCH_REPOSITORY)
        raise DockyardError(ErrorCode.NOT_AUTHORIZED, "Listing webhooks needs repository admin.")
    stmt = (
        select(Subscription)
        .where(Subscription.key == f"{namespace}/{name}")
        .order_by(Subscription.created_at, Subscription.id)
    )
    return (await session.scalars(stmt)).all()


async def list_for_namespace(
    session: AsyncSession, principal: Principal, namespace: str
) -> Sequence[Subscription]:
    """Subscriptions on the namespace itself and on the repositories in it."""
    account = await _account_by_name(session, namespace)
    if account is None:
        raise DockyardError(ErrorCode.NO_SUCH_ACCOUNT)
    if await namespace_access(session, principal, account) < AccessLevel.ADMIN:
        raise DockyardError(ErrorCode.NOT_AUTHORIZED, "Listing webhooks needs namespace owner.")
    stmt = (
        select(Subscription)
        .where(_in_namespace(namespace))
        .order_by(Subscription.created_at, Subscription.id)
    )
    return (await session.scalars(stmt)).all()


def _in_namespace(namespace: str) -> Any:
    """Keys on the namespace itself or on a repository in it, compared exactly: no LIKE, whose
    `_` and `%` are wildcards (names may hold `_`) and which ignores case on SQLite."""
    prefix = f"{namespace}/"
    return or_(
        Subscription.key == namespace,
        func.substr(Subscription.key, 1, len(prefix)) == prefix,
    )


async def delete_for_repository(session: AsyncSession, namespace: str, name: str) -> int:
    """Delete the subscriptions on a repository that is being deleted (their deliveries go by
    cascade), so a repository created later under the same name starts with none. Call it in the
    transaction that deletes the repository. The namespace's REPO_EVENT subscriptions stay and
    hear the REPO_DELETED event."""
    result = await session.execute(
        delete(Subscription)
        .where(Subscription.key == f"{namespace}/{name}")
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_for_account(session: AsyncSession, account: Account) -> int:
    """Delete the subscriptions an account authored and, as its namespace goes too, those on the
    namespace and its repositories. Call it in the transaction that deletes the account."""
    result = await session.execute(
        delete(Subscription)
        .where(or_(Subscription.author_id == account.id, _in_namespace(account.name)))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def get_manageable(
    session: AsyncSession, principal: Principal, webhook_id: Any
) -> Subscription:
    if not isinstance(webhook_id, str) or not webhook_id:
        raise _bad("id", "id must be a webhook subscription id.")
    sub = await session.get(Subscription, webhook_id)
    if sub is None:
        raise DockyardError(ErrorCode.NO_SUCH_WEBHOOK, detail={"id": webhook_id})
    if not await can_manage(session, principal, sub):
        if sub.author_id != principal.account_id:
            # Do not reveal other people's subscriptions to someone who may not manage them.
            raise DockyardError(ErrorCode.NO_SUCH_WEBHOOK, detail={"id": webhook_id})
        raise DockyardError(
            ErrorCode.NOT_AUTHORIZED,
            "Only a registry admin or an admin of the subscribed resource may change it.",
        )
    return sub


async def delete_subscription(session: AsyncSession, principal: Principal, webhook_id: str) -> None:
    sub = await get_manageable(session, principal, webhook_id)
    await session.delete(sub)


async def apply_update(
    session: AsyncSession, principal: Principal, body: Any, *, allow_endpoint: bool
) -> Subscription:
    """MSR's update fields (inactive, tlsCert, skipTLSVerification) and, through the PATCH
    extension, endpoint. Reactivating clears the failure count and the reason."""
    body = require_object(body)
    sub = await get_manageable(session, principal, body.get("id"))
    inactive = optional_bool(body, "inactive")
    tls_cert = optional_str(body, "tlsCert")
    skip = optional_bool(body, "skipTLSVerification")
    endpoint = None
    if allow_endpoint and "endpoint" in body:
        endpoint = validate_endpoint(body.get("endpoint"))
    if tls_cert is not None:
        sub.tls_cert = validate_tls_cert(tls_cert)
    if skip is not None:
        sub.skip_tls_verification = skip
    if endpoint is not None:
        sub.endpoint = endpoint
    if inactive is not None and inactive != sub.inactive:
        sub.inactive = inactive
        sub.inactive_reason = "Deactivated through the API." if inactive else ""
        if not inactive:
            sub.consecutive_failures = 0
    return sub


async def rotate_secret(
    session: AsyncSession, principal: Principal, webhook_id: str, *, now: datetime | None = None
) -> Subscription:
    sub = await get_manageable(session, principal, webhook_id)
    sub.previous_secret = sub.secret
    sub.previous_secret_expires_at = (now or utcnow()) + SECRET_OVERLAP
    sub.secret = generate_secret()
    return sub


def signing_secrets(
    secret: str, previous: str | None, previous_expires: datetime | None, now: datetime
) -> list[str]:
    if previous and previous_expires is not None and previous_expires > now:
        return [secret, previous]
    return [secret]
