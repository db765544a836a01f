"""Webhook subscriptions: create, list, update, delete, rotate secrets.

Inputs are the parsed request models of `webhooks.schemas`; who may subscribe to what is
`webhooks.keys` (MSR's rules), the caps are `webhooks.limits`. Subscriptions go with what they
are on and with their author: deleting a repository deletes the subscriptions on it, deleting an
account deletes those it authored and those on its namespace. Takes a session and never commits:
the request's unit of work does. No HTTP here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account
from dockyard.accounts.principal import Principal
from dockyard.auth.access import namespace_access, repository_access
from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.kit.sealing import Sealer
from dockyard.repos.service import get_repository
from dockyard.rules.permissions import AccessLevel
from dockyard.webhooks.checks import ResolvedType, bad_field, resolve_type
from dockyard.webhooks.client_certs import ClientCert, seal
from dockyard.webhooks.filters import parse_min_severity, parse_tag_filter
from dockyard.webhooks.key_namespace import key_namespace
from dockyard.webhooks.keys import account_by_name, can_manage, check_key_access
from dockyard.webhooks.limits import Limits, check_limits
from dockyard.webhooks.models import Subscription
from dockyard.webhooks.schemas import WebhookChanges, WebhookCreate
from dockyard.webhooks.signing import generate_secret

__all__ = ["Limits", "ResolvedType", "resolve_type"]

SECRET_OVERLAP = timedelta(hours=24)


async def create_subscription(
    session: AsyncSession,
    principal: Principal,
    form: WebhookCreate,
    *,
    limits: Limits | None = None,
    now: datetime | None = None,
    sealer: Sealer | None = None,
) -> Subscription:
    """`sealer` seals a client certificate; a form with one needs it."""
    rtype = form.resolved
    await check_key_access(session, principal, rtype, form.key)
    await check_limits(session, principal, form.key, limits or Limits())
    sub = Subscription(
        type=rtype.wire,
        event_type=rtype.event_type.value,
        repo_event_filter=rtype.repo_event_filter,
        key=form.key,
        endpoint=form.endpoint,
        author_id=principal.account_id,
        created_at=now or utcnow(),
        inactive=False,
        inactive_reason="",
        tls_cert=form.tlsCert,
        skip_tls_verification=form.skipTLSVerification,
        secret=generate_secret(),
        consecutive_failures=0,
        last_error="",
        tag_filter=",".join(form.tagFilter),
        min_severity=form.minSeverity,
        format=form.format,
    )
    _set_client_cert(sub, form.client_cert, sealer)
    session.add(sub)
    await session.flush()
    return sub


def _type_filter(webhook_type: str | None) -> ResolvedType | None:
    if webhook_type in (None, "", "any"):
        return None
    return resolve_type(webhook_type, "webhookType")


# Every list pages by (created_at, id), oldest first, over an index that serves the order
# (`models.Subscription`); a page's token is the id of its first subscription.
PAGE_ORDER = (Subscription.created_at, Subscription.id)


async def page_start(session: AsyncSession, webhook_id: str) -> tuple[Any, ...] | None:
    """The (created_at, id) a page starting at this subscription starts from; None when it is
    no subscription (the list starts at its beginning)."""
    if not webhook_id:
        return None
    created = await session.scalar(
        select(Subscription.created_at).where(Subscription.id == webhook_id)
    )
    return None if created is None else (created, webhook_id)


def visible_subscriptions(principal: Principal, webhook_type: str | None) -> Select[Subscription]:
    """GET /api/v0/webhooks: a user's own subscriptions; an admin's: every one (unordered:
    the caller pages them in `PAGE_ORDER`)."""
    rtype = _type_filter(webhook_type)
    stmt = select(Subscription)
    if not principal.is_admin:
        stmt = stmt.where(Subscription.author_id == principal.account_id)
    if rtype is not None:
        stmt = stmt.where(Subscription.type == rtype.wire)
    return stmt


def keyed_subscriptions(key: str) -> Select[Subscription]:
    """The subscriptions on exactly this key (a repository, a namespace itself, or "" for the
    registry-wide ones), for a caller that has checked it may manage them."""
    return select(Subscription).where(Subscription.key == key)


async def repository_subscriptions(
    session: AsyncSession, principal: Principal, namespace: str, name: str
) -> Select[Subscription]:
    repo = await get_repository(session, namespace, name)
    if repo is None:
        raise DockyardError(ErrorCode.NO_SUCH_REPOSITORY)
    level = await repository_access(session, principal, repo)
    if level < AccessLevel.ADMIN:
        if level < AccessLevel.READ_ONLY:
            raise DockyardError(ErrorCode.NO_SUCH_REPOSITORY)
        raise DockyardError(ErrorCode.NOT_AUTHORIZED, "Listing webhooks needs repository admin.")
    return keyed_subscriptions(f"{namespace}/{name}")


async def namespace_subscriptions(
    session: AsyncSession, principal: Principal, namespace: str
) -> Select[Subscription]:
    """Subscriptions on the namespace itself and on the repositories in it."""
    account = await account_by_name(session, namespace)
    if account is None:
        raise DockyardError(ErrorCode.NO_SUCH_ACCOUNT)
    if await namespace_access(session, principal, account) < AccessLevel.ADMIN:
        raise DockyardError(ErrorCode.NOT_AUTHORIZED, "Listing webhooks needs namespace owner.")
    return select(Subscription).where(_in_namespace(namespace))


def _in_namespace(namespace: str) -> Any:
    """Keys on the namespace itself or on a repository in it: the key's namespace part, compared
    exactly, as an index (migration 0015) holds it in list order."""
    return key_namespace(Subscription.key) == namespace


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
    session: AsyncSession, principal: Principal, webhook_id: str
) -> Subscription:
    if not webhook_id:
        raise bad_field("id", "id must be a webhook subscription id.")
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
    session: AsyncSession,
    principal: Principal,
    webhook_id: str,
    changes: WebhookChanges,
    *,
    endpoint: str | None = None,
    sealer: Sealer | None = None,
) -> Subscription:
    """MSR's update fields (inactive, tlsCert, skipTLSVerification), dockyard's options and,
    through the PATCH extension, endpoint. Reactivating clears the failure count and the reason."""
    sub = await get_manageable(session, principal, webhook_id)
    _apply_options(sub, changes, sealer)
    if changes.tlsCert is not None:
        sub.tls_cert = changes.tlsCert
    if changes.skipTLSVerification is not None:
        sub.skip_tls_verification = changes.skipTLSVerification
    if endpoint is not None:
        sub.endpoint = endpoint
    inactive = changes.inactive
    if inactive is not None and inactive != sub.inactive:
        sub.inactive = inactive
        sub.inactive_reason = "Deactivated through the API." if inactive else ""
        if not inactive:
            sub.consecutive_failures = 0
    return sub


def _apply_options(sub: Subscription, changes: WebhookChanges, sealer: Sealer | None) -> None:
    """dockyard's options, the filters checked against the subscription's own type."""
    event_type = resolve_type(sub.type).event_type
    if changes.tagFilter is not None:
        sub.tag_filter = parse_tag_filter(changes.tagFilter, event_type)
    if changes.minSeverity is not None:
        sub.min_severity = parse_min_severity(changes.minSeverity, event_type)
    if changes.format is not None:
        sub.format = changes.format
    _set_client_cert(sub, changes.client_cert, sealer)


def _set_client_cert(sub: Subscription, cert: ClientCert | None, sealer: Sealer | None) -> None:
    """Seal and keep the pair (None: leave it; empty PEMs: remove it)."""
    if cert is None:
        return
    if cert.cert_pem and sealer is None:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "Client certificates cannot be stored here (no secret key).",
            detail={"field": "tlsClientCert"},
        )
    sub.tls_client_sealed = seal(sealer, cert) if sealer is not None else ""
    sub.tls_client_subject = cert.subject


async def rotate_secret(
    session: AsyncSession, principal: Principal, webhook_id: str, *, now: datetime | None = None
) -> Subscription:
    sub = await get_manageable(session, principal, webhook_id)
    sub.previous_secret = sub.secret
    sub.previous_secret_expires_at = (now or utcnow()) + SECRET_OVERLAP
    sub.secret = generate_secret()
    return sub
