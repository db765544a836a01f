"""Promotion: gather an image's facts (the tag, its scan results), decide with the policy's
rules, copy the image by reference into the target repository under the rendered tag and record
exactly one PROMOTION. Each promoted tag keeps its promotion chain (the repositories it passed
through), so a promotion never loops (A → B → A). Takes a session, never commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.bus import record
from dockyard.events.pipeline import promotion_event
from dockyard.events.types import ImageRef
from dockyard.policies.copy import copy_image
from dockyard.policies.models import PromotedTag, PromotionPolicy
from dockyard.policies.rules import ImageFacts, evaluate, needs_scan, parse_rules
from dockyard.policies.service import enabled_policies
from dockyard.policies.templates import TemplateError, is_valid_tag, render_tag_template
from dockyard.repos.models import Repository, Tag
from dockyard.scanning.results import image_scans
from dockyard.scanning.service import ScanStatus

log = logging.getLogger(__name__)
POLICY_AUTHOR = "promotion-policy"
MAX_CHAIN = 32
_SCANNED = (ScanStatus.SCANNED, ScanStatus.CHECKING, ScanStatus.COMPLETED)


@dataclass(frozen=True)
class Promotion:
    source: Repository
    source_tag: str
    target: Repository
    target_tag: str
    digest: str
    at: datetime

    def wire(self) -> dict[str, Any]:
        return {
            "sourceRepository": f"{self.source.namespace}/{self.source.name}",
            "sourceTag": self.source_tag,
            "targetRepository": f"{self.target.namespace}/{self.target.name}",
            "targetTag": self.target_tag,
            "digest": self.digest,
            "promotedAt": self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }


async def image_facts(
    session: AsyncSession, repo: Repository, tag: Tag, *, with_scan: bool
) -> ImageFacts:
    """The tag's facts; vulnerabilities are the worst platform's, None until every platform of
    the image has a finished scan."""
    vulns: dict[str, int] | None = None
    components: set[str] = set()
    licenses: set[str] = set()
    if with_scan:
        rows = await image_scans(session, repo, tag.name) or []
        if rows and all(row.status in _SCANNED for row in rows):
            critical = max(row.critical for row in rows)
            major = max(row.major for row in rows)
            minor = max(row.minor for row in rows)
            vulns = {
                "critical": critical,
                "major": major,
                "minor": minor,
                "all": max(row.critical + row.major + row.minor for row in rows),
            }
            for row in rows:
                for pkg in row.components or []:
                    if pkg.get("name"):
                        components.add(str(pkg["name"]))
                    if pkg.get("license"):
                        licenses.add(str(pkg["license"]))
    return ImageFacts(
        tag=tag.name,
        vulnerabilities=vulns,
        components=frozenset(components),
        licenses=frozenset(licenses),
        updated_at=tag.updated_at,
    )


async def chain_of(session: AsyncSession, repo: Repository, tag: str, digest: str) -> list[str]:
    """The repositories this tag's image was promoted through (empty: pushed, not promoted)."""
    row = await session.scalar(
        select(PromotedTag).where(PromotedTag.repository_id == repo.id, PromotedTag.tag == tag)
    )
    if row is None or row.manifest_digest != digest:
        return []
    return [str(item) for item in row.chain]


async def _remember(
    session: AsyncSession, target: Repository, tag: str, digest: str, chain: list[str]
) -> None:
    row = await session.scalar(
        select(PromotedTag).where(PromotedTag.repository_id == target.id, PromotedTag.tag == tag)
    )
    if row is None:
        session.add(
            PromotedTag(repository_id=target.id, tag=tag, manifest_digest=digest, chain=chain)
        )
    else:
        row.manifest_digest, row.chain, row.created_at = digest, chain, utcnow()


async def promote(
    session: AsyncSession,
    host: str,
    source: Repository,
    tag: Tag,
    target: Repository,
    target_tag: str,
    *,
    author: str,
    policy: PromotionPolicy | None = None,
) -> Promotion:
    """Copy `tag` to `target:target_tag`, record the target's pushes and one PROMOTION."""
    if not is_valid_tag(target_tag):
        raise DockyardError(ErrorCode.INVALID_TAG_NAME, f"{target_tag!r} is not a valid tag")
    now = utcnow()
    chain = await chain_of(session, source, tag.name, tag.digest)
    manifest = await copy_image(session, host, source, target, tag.digest, target_tag, author)
    await _remember(session, target, target_tag, tag.digest, [*chain, source.id][-MAX_CHAIN:])
    image = ImageRef(
        target.namespace,
        target.name,
        manifest.digest,
        manifest.os,
        manifest.architecture,
        target_tag,
    )
    policy_id = "" if policy is None else policy.id
    record(
        session,
        promotion_event(
            host, source.namespace, source.name, tag.name, image, policy_id, author, now
        ),
    )
    if policy is not None:
        policy.last_promoted_at = now
    return Promotion(source, tag.name, target, target_tag, tag.digest, now)


async def apply_policy(
    session: AsyncSession, host: str, policy: PromotionPolicy, source: Repository, tag: Tag
) -> Promotion | None:
    """Promote `tag` when the policy's rules hold, unless the target already has it under the
    rendered tag or the target is a repository the image already passed through."""
    target = await session.get(Repository, policy.target_repository_id)
    if target is None or not policy.enabled:
        return None
    chain = await chain_of(session, source, tag.name, tag.digest)
    if target.id in chain:
        return None  # a loop: this image came from there
    rules = parse_rules(policy.rules)
    facts = await image_facts(session, source, tag, with_scan=needs_scan(rules))
    if not evaluate(rules, facts):
        return None
    try:
        target_tag = render_tag_template(policy.tag_template, tag.name, utcnow())
    except TemplateError:
        return None
    if target.id == source.id and target_tag == tag.name:
        return None
    current = await session.scalar(
        select(Tag.digest).where(Tag.repository_id == target.id, Tag.name == target_tag)
    )
    if current == tag.digest:
        return None  # already promoted (a scan finishing later does not promote it twice)
    try:
        return await promote(
            session, host, source, tag, target, target_tag, author=POLICY_AUTHOR, policy=policy
        )
    except DockyardError as exc:
        log.warning(
            "promotion policy %s: %s:%s not promoted: %s", policy.id, source.name, tag.name, exc
        )
        return None


async def evaluate_tag(
    session: AsyncSession, host: str, source: Repository, tag: Tag
) -> list[Promotion]:
    """Every enabled policy of `source` applied to one tag."""
    done: list[Promotion] = []
    for policy in await enabled_policies(session, source):
        promotion = await apply_policy(session, host, policy, source, tag)
        if promotion is not None:
            done.append(promotion)
    return done


async def initial_evaluation(
    session: AsyncSession, host: str, policy: PromotionPolicy, source: Repository, limit: int
) -> int:
    """Apply a new or changed policy to the source's existing tags (at most `limit`)."""
    tags = list(
        await session.scalars(
            select(Tag).where(Tag.repository_id == source.id).order_by(Tag.name).limit(limit)
        )
    )
    count = 0
    for tag in tags:
        if await apply_policy(session, host, policy, source, tag) is not None:
            count += 1
    return count
