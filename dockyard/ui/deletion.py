"""What deleting a repository removes with it, counted for the confirmation to say: its tags,
the webhooks subscribed to it, and its policies (promotion from or into it, mirroring,
pruning), which go by cascade or with it in the same unit of work (`repo_pages`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.policies.mirror_models import MirroringPolicy
from dockyard.policies.models import PromotionPolicy
from dockyard.policies.pruning_models import PruningPolicy
from dockyard.repos.content import tag_counts
from dockyard.repos.models import Repository
from dockyard.webhooks.models import Subscription


@dataclass(frozen=True)
class DeletionSummary:
    """What deleting a repository removes with it, for the confirmation to say."""

    tags: int
    webhooks: int
    policies: int


async def deletion_summary(session: AsyncSession, repo: Repository) -> DeletionSummary:
    """Counts of the repository's tags, webhooks (on it, not on its namespace) and policies
    (promotion from or into it, mirroring, pruning): each an indexed count."""
    tags = (await tag_counts(session, [repo.id])).get(repo.id, 0)
    hooks = select(func.count()).where(Subscription.key == repo.full_name)
    promotions = select(func.count()).where(
        or_(
            PromotionPolicy.source_repository_id == repo.id,
            PromotionPolicy.target_repository_id == repo.id,
        )
    )
    mirrors = select(func.count()).where(MirroringPolicy.repository_id == repo.id)
    pruning = select(func.count()).where(PruningPolicy.repository_id == repo.id)
    policies = 0
    for stmt in (promotions, mirrors, pruning):
        policies += int(await session.scalar(stmt) or 0)
    return DeletionSummary(tags, int(await session.scalar(hooks) or 0), policies)
