"""Where a webhook page's subscriptions live (a repository, a namespace, the whole registry) and
who may manage them there; shared by the subscription list pages and the one-subscription pages.

Every permission answer comes from `auth.access` and `webhooks.service`; nothing is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.service import get_account
from dockyard.auth.access import namespace_access
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.types import EVENT_TYPES, REPO_EVENT_ALIASES, EventType, Scope
from dockyard.rules.permissions import AccessLevel
from dockyard.ui.render import FORBIDDEN, Page, not_found
from dockyard.ui.repo_pages import RepoView, load_repo
from dockyard.webhooks import service as webhooks
from dockyard.webhooks.models import Subscription

_REPO_EVENT_LABELS = {
    "REPO_CREATED": "Repository created",
    "REPO_UPDATED": "Repository updated",
    "REPO_DELETED": "Repository deleted",
}


@dataclass(frozen=True)
class Scoped:
    """Where a list of subscriptions lives: a repository, a namespace, or the whole registry."""

    kind: str  # repository | namespace | global
    key: str
    base: str  # the list page's URL
    title: str
    events: list[tuple[str, str]]
    view: RepoView | None = None


def _choices(scope: str) -> list[tuple[str, str]]:
    repo_events = [
        (t.value, f"{info.label} ({t.value})")
        for t, info in EVENT_TYPES.items()
        if info.scope is Scope.REPOSITORY
    ]
    ns_events = [(EventType.REPO_EVENT.value, f"{EVENT_TYPES[EventType.REPO_EVENT].label}")]
    ns_events += [(alias, _REPO_EVENT_LABELS.get(alias, alias)) for alias in REPO_EVENT_ALIASES]
    if scope == "repository":
        return repo_events
    if scope == "namespace":
        return ns_events
    scanner = EventType.SCANNER_UPDATE_COMPLETED
    return [(scanner.value, EVENT_TYPES[scanner].label), *repo_events, *ns_events]


async def repo_scope(page: Page, session: AsyncSession, namespace: str, name: str) -> Scoped:
    view = await load_repo(page, session, namespace, name)
    if not view.is_admin:
        raise FORBIDDEN
    key = view.repo.full_name
    return Scoped(
        "repository",
        key,
        f"/repositories/{key}/webhooks",
        key,
        _choices("repository"),
        view,
    )


async def namespace_scope(page: Page, session: AsyncSession, namespace: str) -> Scoped:
    account = await get_account(session, namespace)
    if account is None or account.name != namespace:
        raise not_found(f"The namespace {namespace}")
    if await namespace_access(session, page.user, account) < AccessLevel.ADMIN:
        raise FORBIDDEN
    return Scoped(
        "namespace", namespace, f"/orgs/{namespace}/webhooks", namespace, _choices("namespace")
    )


def global_scope(page: Page) -> Scoped:
    if not page.user.is_admin:
        raise FORBIDDEN
    return Scoped("global", "", "/admin/webhooks", "the whole registry", _choices("global"))


async def scope_of(page: Page, session: AsyncSession, sub: Subscription) -> Scoped:
    """The scope a subscription belongs to (checks its manager may manage there)."""
    if "/" in sub.key:
        namespace, _, name = sub.key.partition("/")
        return await repo_scope(page, session, namespace, name)
    if sub.key:
        return await namespace_scope(page, session, sub.key)
    return global_scope(page)


def scope_url(sub: Subscription) -> str:
    """The list page a subscription is shown on."""
    if "/" in sub.key:
        return f"/repositories/{sub.key}/webhooks"
    if sub.key:
        return f"/orgs/{sub.key}/webhooks"
    return "/admin/webhooks"


async def manageable(page: Page, session: AsyncSession, webhook_id: str) -> Subscription:
    """The subscription, when the signed-in user may manage it (403 or 404 page otherwise)."""
    try:
        return await webhooks.get_manageable(session, page.user, webhook_id)
    except DockyardError as exc:
        if exc.code is ErrorCode.NOT_AUTHORIZED:
            raise FORBIDDEN from None
        raise not_found("The webhook") from None
