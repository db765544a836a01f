"""Promotion policies: create, read, update, delete and their wire shape (MSR's
`PromotionPolicy`). Rules and the tag template are checked here so that a bad one answers 400
INVALID_PROMOTION_POLICY naming it. Takes a session, never commits. No HTTP here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.policies.models import PromotionPolicy
from dockyard.policies.rules import RuleError, parse_rules
from dockyard.policies.templates import TemplateError, check_tag_template
from dockyard.repos.models import Repository

MAX_POLICIES_PER_REPOSITORY = 50


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def invalid(message: str) -> DockyardError:
    return DockyardError(ErrorCode.INVALID_PROMOTION_POLICY, message[:500])


def check_body(body: Any) -> list[dict[str, Any]]:
    """The rules as stored (parsed, normalised); raises INVALID_PROMOTION_POLICY."""
    try:
        rules = parse_rules(body.rules)
        check_tag_template(body.tagTemplate)
    except (RuleError, TemplateError) as exc:
        raise invalid(str(exc)) from exc
    return [rule.as_json() for rule in rules]


def check_target(source: Repository, target: Repository, template: str) -> None:
    if source.id == target.id and template in ("", "%n"):
        raise invalid("a policy that promotes a repository into itself needs a tag template")


async def create_policy(
    session: AsyncSession, source: Repository, target: Repository, body: Any
) -> PromotionPolicy:
    rules = check_body(body)
    check_target(source, target, body.tagTemplate)
    count = await session.scalar(
        select(func.count())
        .select_from(PromotionPolicy)
        .where(PromotionPolicy.source_repository_id == source.id)
    )
    if (count or 0) >= MAX_POLICIES_PER_REPOSITORY:
        raise invalid(f"a repository has at most {MAX_POLICIES_PER_REPOSITORY} promotion policies")
    now = utcnow()
    policy = PromotionPolicy(
        source_repository_id=source.id,
        target_repository_id=target.id,
        rules=rules,
        tag_template=body.tagTemplate,
        enabled=body.enabled,
        created_at=now,
        updated_at=now,
    )
    session.add(policy)
    await session.flush()
    return policy


async def update_policy(
    session: AsyncSession,
    policy: PromotionPolicy,
    source: Repository,
    target: Repository,
    body: Any,
) -> PromotionPolicy:
    policy.rules = check_body(body)
    check_target(source, target, body.tagTemplate)
    policy.target_repository_id = target.id
    policy.tag_template = body.tagTemplate
    policy.enabled = body.enabled
    policy.updated_at = utcnow()
    await session.flush()
    return policy


async def list_policies(
    session: AsyncSession, repo: Repository, *, source: bool = True
) -> list[PromotionPolicy]:
    column = (
        PromotionPolicy.source_repository_id if source else PromotionPolicy.target_repository_id
    )
    stmt = select(PromotionPolicy).where(column == repo.id)
    return list(
        await session.scalars(stmt.order_by(PromotionPolicy.created_at, PromotionPolicy.id))
    )


async def enabled_policies(session: AsyncSession, source: Repository) -> list[PromotionPolicy]:
    stmt = select(PromotionPolicy).where(
        PromotionPolicy.source_repository_id == source.id, PromotionPolicy.enabled.is_(True)
    )
    return list(
        await session.scalars(stmt.order_by(PromotionPolicy.created_at, PromotionPolicy.id))
    )


async def get_policy(session: AsyncSession, repo: Repository, policy_id: str) -> PromotionPolicy:
    """A policy of which `repo` is the source or the target."""
    policy = await session.scalar(
        select(PromotionPolicy).where(
            PromotionPolicy.id == policy_id[:36],
            or_(
                PromotionPolicy.source_repository_id == repo.id,
                PromotionPolicy.target_repository_id == repo.id,
            ),
        )
    )
    if policy is None:
        raise DockyardError(ErrorCode.NO_SUCH_PROMOTION_POLICY, detail={"id": policy_id[:64]})
    return policy


async def delete_policy(session: AsyncSession, repo: Repository, policy_id: str) -> None:
    """Deleting a policy that does not exist succeeds (MSR: 204 either way)."""
    policy = await session.scalar(
        select(PromotionPolicy).where(
            PromotionPolicy.id == policy_id[:36],
            PromotionPolicy.source_repository_id == repo.id,
        )
    )
    if policy is not None:
        await session.delete(policy)
        await session.flush()


async def repository_name(session: AsyncSession, repository_id: str) -> str:
    repo = await session.get(Repository, repository_id)
    return "" if repo is None else f"{repo.namespace}/{repo.name}"


async def wire(session: AsyncSession, policy: PromotionPolicy) -> dict[str, Any]:
    """MSR's PromotionPolicy (plus createdAt and updatedAt)."""
    return {
        "id": policy.id,
        "rules": list(policy.rules),
        "sourceRepository": await repository_name(session, policy.source_repository_id),
        "targetRepository": await repository_name(session, policy.target_repository_id),
        "tagTemplate": policy.tag_template,
        "enabled": policy.enabled,
        "lastPromotedAt": iso(policy.last_promoted_at),
        "createdAt": iso(policy.created_at) or "",
        "updatedAt": iso(policy.updated_at) or "",
    }
