"""Caps on subscriptions: per key (a repository, a namespace, or none) and per author.

They bound the fan-out of one event and what one user can make the engine send. No HTTP here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.principal import Principal
from dockyard.config import Settings
from dockyard.errors import DockyardError, ErrorCode
from dockyard.webhooks.models import Subscription


@dataclass(frozen=True)
class Limits:
    """How many subscriptions one key and one author may have."""

    per_key: int = 100
    per_user: int = 1000

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.webhook_max_per_key, settings.webhook_max_per_user)


async def check_limits(
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
