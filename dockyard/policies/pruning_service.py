"""Pruning policies: create, read, update, delete, their wire shape (MSR's `PruningPolicy`), and a
pruning run: the repository's tags that match every rule of an enabled policy are deleted through
the repositories' own tag delete (`repos.content.delete_tag`), so each records its TAG_DELETE with
the usual payload. A repository with immutable tags keeps every tag. The facts a rule looks at
(tag, scan results, updated_at) come from the promotion engine's `image_facts`. Takes a session,
never commits. No HTTP here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import utcnow
from dockyard.db.transient import is_transient
from dockyard.errors import DockyardError, ErrorCode
from dockyard.policies.engine import image_facts
from dockyard.policies.pruning_models import PruningPolicy
from dockyard.policies.rules import Rule, RuleError, evaluate, needs_scan, parse_rules
from dockyard.repos.content import delete_tag
from dockyard.repos.models import Repository, Tag

log = logging.getLogger(__name__)
MAX_POLICIES_PER_REPOSITORY = 50
# Tags deleted by one run of one repository (one transaction); the next run deletes the rest.
MAX_DELETIONS_PER_RUN = 1000
POLICY_AUTHOR = "pruning-policy"


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def invalid(message: str) -> DockyardError:
    return DockyardError(ErrorCode.INVALID_PRUNING_POLICY, message[:500])


def check_rules(raw: Any) -> tuple[Rule, ...]:
    """The rules parsed; raises INVALID_PRUNING_POLICY naming the bad one. A policy without rules
    would delete every tag, so at least one is required."""
    try:
        rules = parse_rules(raw)
    except RuleError as exc:
        raise invalid(str(exc)) from exc
    if not rules:
        raise invalid("a pruning policy needs at least one rule (none would delete every tag)")
    return rules


async def create_policy(session: AsyncSession, repo: Repository, body: Any) -> PruningPolicy:
    rules = check_rules(body.rules)
    count = await session.scalar(
        select(func.count())
        .select_from(PruningPolicy)
        .where(PruningPolicy.repository_id == repo.id)
    )
    if (count or 0) >= MAX_POLICIES_PER_REPOSITORY:
        raise invalid(f"a repository has at most {MAX_POLICIES_PER_REPOSITORY} pruning policies")
    now = utcnow()
    policy = PruningPolicy(
        repository_id=repo.id,
        rules=[rule.as_json() for rule in rules],
        enabled=body.enabled,
        created_at=now,
        updated_at=now,
    )
    session.add(policy)
    await session.flush()
    return policy


async def update_policy(session: AsyncSession, policy: PruningPolicy, body: Any) -> PruningPolicy:
    policy.rules = [rule.as_json() for rule in check_rules(body.rules)]
    policy.enabled = body.enabled
    policy.updated_at = utcnow()
    await session.flush()
    return policy


async def list_policies(
    session: AsyncSession, repo: Repository, *, enabled_only: bool = False
) -> list[PruningPolicy]:
    stmt = select(PruningPolicy).where(PruningPolicy.repository_id == repo.id)
    if enabled_only:
        stmt = stmt.where(PruningPolicy.enabled.is_(True))
    return list(await session.scalars(stmt.order_by(PruningPolicy.created_at, PruningPolicy.id)))


async def get_policy(session: AsyncSession, repo: Repository, policy_id: str) -> PruningPolicy:
    policy = await session.scalar(
        select(PruningPolicy).where(
            PruningPolicy.id == policy_id[:36], PruningPolicy.repository_id == repo.id
        )
    )
    if policy is None:
        raise DockyardError(ErrorCode.NO_SUCH_PRUNING_POLICY, detail={"id": policy_id[:64]})
    return policy


async def delete_policy(session: AsyncSession, repo: Repository, policy_id: str) -> None:
    """Deleting a policy that does not exist succeeds (MSR: 204 either way)."""
    policy = await session.scalar(
        select(PruningPolicy).where(
            PruningPolicy.id == policy_id[:36], PruningPolicy.repository_id == repo.id
        )
    )
    if policy is not None:
        await session.delete(policy)
        await session.flush()


def wire(policy: PruningPolicy, repo: Repository) -> dict[str, Any]:
    """MSR's PruningPolicy (plus createdAt and updatedAt)."""
    return {
        "id": policy.id,
        "repository": f"{repo.namespace}/{repo.name}",
        "rules": list(policy.rules),
        "enabled": policy.enabled,
        "lastPrunedAt": iso(policy.last_pruned_at),
        "createdAt": iso(policy.created_at) or "",
        "updatedAt": iso(policy.updated_at) or "",
    }


@dataclass(frozen=True)
class Doomed:
    """A tag a run deletes, and the index of the first rule set that matched it."""

    tag: Tag
    by: int


async def doomed_tags(
    session: AsyncSession,
    repo: Repository,
    rule_sets: Sequence[Sequence[Rule]],
    limit: int = MAX_DELETIONS_PER_RUN,
) -> list[Doomed]:
    """The tags (by name, at most `limit`) matching every rule of one of `rule_sets`; none when
    the repository's tags are immutable."""
    if repo.immutable_tags or not rule_sets:
        return []
    with_scan = any(needs_scan(rules) for rules in rule_sets)
    now = utcnow()
    found: list[Doomed] = []
    tags = await session.scalars(select(Tag).where(Tag.repository_id == repo.id).order_by(Tag.name))
    for tag in list(tags):
        facts = await image_facts(session, repo, tag, with_scan=with_scan)
        for index, rules in enumerate(rule_sets):
            if evaluate(rules, facts, now):
                found.append(Doomed(tag, index))
                break
        if len(found) >= limit:
            break
    return found


async def prune(
    session: AsyncSession,
    host: str,
    repo: Repository,
    policies: Sequence[PruningPolicy],
    limit: int = MAX_DELETIONS_PER_RUN,
) -> list[Doomed]:
    """Delete the tags the enabled `policies` match (TAG_DELETE each, author `pruning-policy`);
    each policy that deleted a tag gets `lastPrunedAt`. Returns what was deleted."""
    active = [policy for policy in policies if policy.enabled]
    doomed = await doomed_tags(session, repo, [parse_rules(p.rules) for p in active], limit)
    now = utcnow()
    # One flush at the end writes the history rows, deletions and TAG_DELETEs in batches
    # instead of three statements per tag before each lookup.
    with session.no_autoflush:
        for item in doomed:
            await delete_tag(session, host, repo, item.tag.name, POLICY_AUTHOR)
            active[item.by].last_pruned_at = now
    await session.flush()
    return doomed


async def prune_repository(session: AsyncSession, host: str, repo: Repository) -> int:
    """One run over every enabled policy of `repo`; returns how many tags were deleted."""
    return len(
        await prune(session, host, repo, await list_policies(session, repo, enabled_only=True))
    )


async def repositories_to_prune(session: AsyncSession) -> list[str]:
    """Ids of the repositories with an enabled pruning policy."""
    rows = await session.scalars(
        select(PruningPolicy.repository_id)
        .where(PruningPolicy.enabled.is_(True))
        .distinct()
        .order_by(PruningPolicy.repository_id)
    )
    return list(rows)


async def prune_safely(session: AsyncSession, host: str, repo: Repository) -> int:
    """`prune_repository` in a savepoint: a failure (a tag deleted meanwhile by another run) is
    logged and undone for this repository only."""
    try:
        async with session.begin_nested():
            return await prune_repository(session, host, repo)
    except Exception as exc:
        if is_transient(exc):
            raise  # a locked database: the caller's step rolls back and is retried
        log.exception("pruning.repository.failed", extra={"repository": repo.id})
        return 0


async def prune_all(session: AsyncSession, host: str) -> int:
    """One run of every repository with an enabled policy; returns how many tags were deleted."""
    deleted = 0
    for repository_id in await repositories_to_prune(session):
        repo = await session.get(Repository, repository_id)
        if repo is not None:
            deleted += await prune_safely(session, host, repo)
    return deleted
