"""Mirroring policies (push and poll) and mirror jobs: create, read, update, delete, wire shapes,
the jobs a push, a manual call or a poll run queues. Credentials are encrypted with the cipher
the caller passes (`policies.credentials`) and never leave this module in an answer. Takes a
session, never commits. No HTTP here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.policies.credentials import Vault
from dockyard.policies.mirror_facts import tag_facts
from dockyard.policies.mirror_models import MirroringPolicy, MirrorJob
from dockyard.policies.ociauth import Credentials
from dockyard.policies.rules import RuleError, evaluate, parse_rules
from dockyard.policies.templates import (
    TemplateError,
    check_tag_template,
    is_valid_tag,
    render_tag_template,
)
from dockyard.repos.models import Repository, Tag

PUSH, POLL = "push", "poll"
MAX_POLICIES_PER_REPOSITORY = 50
MAX_INITIAL = 1000  # tags an initial evaluation looks at
CONSUMER = "mirroring"
PUSH_BATCH = 200
# As scanning's cursor: on PostgreSQL pass only events this old (seq is handed out at insert).


def iso(value: datetime | None) -> str | None:
    return (
        None if value is None else value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _invalid(kind: str, message: str) -> DockyardError:
    code = (
        ErrorCode.INVALID_PUSH_MIRRORING_POLICY
        if kind == PUSH
        else ErrorCode.INVALID_POLL_MIRRORING_POLICY
    )
    return DockyardError(code, message[:500])


def check_remote(kind: str, body: Any) -> None:
    """The remote's URL and repository must be usable: http(s) host, a repository path."""
    host = str(body.remoteHost).strip()
    if not host.startswith(("http://", "https://")) or len(host) < 9 or " " in host:
        raise _invalid(kind, "remoteHost must be an http:// or https:// URL")
    repo = str(body.remoteRepository).strip("/")
    if not repo or " " in repo or ".." in repo:
        raise _invalid(kind, "remoteRepository must be a repository path such as 'acme/app'")
    if body.remoteCA and "BEGIN CERTIFICATE" not in body.remoteCA:
        raise _invalid(kind, "remoteCA must be a PEM certificate")


def _check_push(body: Any) -> list[dict[str, Any]]:
    try:
        rules = parse_rules(body.rules)
        check_tag_template(body.tagTemplate)
    except (RuleError, TemplateError) as exc:
        raise _invalid(PUSH, str(exc)) from exc
    return [r.as_json() for r in rules]


def _apply(policy: MirroringPolicy, body: Any, vault: Vault) -> None:
    policy.remote_host = str(body.remoteHost).strip().rstrip("/")
    policy.remote_repository = str(body.remoteRepository).strip("/")
    policy.remote_ca = body.remoteCA
    policy.skip_tls_verification = body.skipTLSVerification
    policy.enabled = body.enabled
    if body.password or body.authToken or body.username != policy.username:
        # An update without a password or token keeps the stored ones (same username).
        policy.secret_enc = vault.encrypt(Credentials(body.username, body.password, body.authToken))
    policy.username = body.username


async def create_policy(
    session: AsyncSession, repo: Repository, kind: str, body: Any, vault: Vault
) -> MirroringPolicy:
    check_remote(kind, body)
    rules = _check_push(body) if kind == PUSH else []
    count = len(
        (
            await session.scalars(
                select(MirroringPolicy.id).where(MirroringPolicy.repository_id == repo.id)
            )
        ).all()
    )
    if count >= MAX_POLICIES_PER_REPOSITORY:
        raise _invalid(kind, f"a repository has at most {MAX_POLICIES_PER_REPOSITORY} policies")
    policy = MirroringPolicy(
        mirroring_type=kind,
        repository_id=repo.id,
        rules=rules,
        tag_template=body.tagTemplate if kind == PUSH else "",
        username="",
        secret_enc="",
        last_status={},
        remote_digests={},
        created_at=utcnow(),
    )
    _apply(policy, body, vault)
    session.add(policy)
    await session.flush()
    return policy


async def update_policy(
    session: AsyncSession, policy: MirroringPolicy, body: Any, vault: Vault
) -> MirroringPolicy:
    kind = policy.mirroring_type
    check_remote(kind, body)
    if kind == PUSH:
        policy.rules = _check_push(body)
        policy.tag_template = body.tagTemplate
    if policy.remote_host != str(body.remoteHost).strip().rstrip("/") or (
        policy.remote_repository != str(body.remoteRepository).strip("/")
    ):
        policy.remote_digests = {}
    _apply(policy, body, vault)
    await session.flush()
    return policy


async def list_policies(
    session: AsyncSession, repo: Repository, kind: str | None = None
) -> list[MirroringPolicy]:
    stmt = select(MirroringPolicy).where(MirroringPolicy.repository_id == repo.id)
    if kind is not None:
        stmt = stmt.where(MirroringPolicy.mirroring_type == kind)
    return list(
        await session.scalars(stmt.order_by(MirroringPolicy.created_at, MirroringPolicy.id))
    )


async def get_policy(
    session: AsyncSession, repo: Repository, policy_id: str, kind: str | None = None
) -> MirroringPolicy:
    policy = await session.get(MirroringPolicy, policy_id[:36])
    if (
        policy is None
        or policy.repository_id != repo.id
        or (kind is not None and policy.mirroring_type != kind)
    ):
        raise DockyardError(ErrorCode.NO_SUCH_MIRRORING_POLICY, detail={"id": policy_id[:64]})
    return policy


async def delete_policies(
    session: AsyncSession, repo: Repository, ids: list[str], kind: str | None = None
) -> None:
    """Deletes the repository's policies with these ids; a missing id is no error (MSR)."""
    stmt = delete(MirroringPolicy).where(
        MirroringPolicy.repository_id == repo.id, MirroringPolicy.id.in_([i[:36] for i in ids])
    )
    if kind is not None:
        stmt = stmt.where(MirroringPolicy.mirroring_type == kind)
    await session.execute(stmt)


def policy_wire(policy: MirroringPolicy, local: str, generic: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": policy.id,
        "username": policy.username,
        "localRepository": local,
        "remoteHost": policy.remote_host,
        "remoteRepository": policy.remote_repository,
        "remoteCA": policy.remote_ca,
        "skipTLSVerification": policy.skip_tls_verification,
        "enabled": policy.enabled,
        "lastMirroredAt": iso(policy.last_mirrored_at),
        "lastStatus": policy.last_status or None,
    }
    if policy.mirroring_type == PUSH or generic:
        out["rules"] = list(policy.rules)
        out["tagTemplate"] = policy.tag_template
    if generic:
        out["mirroringType"] = policy.mirroring_type
    return out


async def enqueue(
    session: AsyncSession,
    kind: str,
    repository_id: str,
    *,
    policy_id: str | None = None,
    tag: str = "",
    digest: str = "",
    remote_tag: str = "",
    target: dict[str, Any] | None = None,
) -> MirrorJob:
    now = utcnow()
    job = MirrorJob(
        kind=kind,
        status="pending",
        policy_id=policy_id,
        repository_id=repository_id,
        tag=tag,
        manifest_digest=digest,
        remote_tag=remote_tag,
        target=target or {},
        next_attempt_at=now,
        claimed_by="",
        attempts=0,
        error="",
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    await session.flush()
    return job


def manual_target(body: Any, vault: Vault) -> dict[str, Any]:
    """A manual push's remote, kept on its job with the secrets encrypted."""
    check_remote(PUSH, body)
    return {
        "remoteHost": str(body.remoteHost).strip().rstrip("/"),
        "remoteRepository": str(body.remoteRepository).strip("/"),
        "remoteCA": body.remoteCA,
        "skipTLSVerification": body.skipTLSVerification,
        "username": body.username,
        "secret": vault.encrypt(Credentials(body.username, body.password, body.authToken)),
    }


async def enqueue_polls(session: AsyncSession) -> int:
    """One poll job per enabled poll policy that has none waiting. Returns how many."""
    waiting = set(
        await session.scalars(
            select(MirrorJob.policy_id).where(MirrorJob.kind == POLL, MirrorJob.status == "pending")
        )
    )
    count = 0
    for policy in await session.scalars(
        select(MirroringPolicy).where(
            MirroringPolicy.mirroring_type == POLL, MirroringPolicy.enabled.is_(True)
        )
    ):
        if policy.id not in waiting:
            await enqueue(session, POLL, policy.repository_id, policy_id=policy.id)
            count += 1
    return count


async def _matches(
    session: AsyncSession, repo: Repository, policy: MirroringPolicy, tag: str
) -> bool:
    facts = await tag_facts(session, repo, tag)
    if facts is None:
        return False
    try:
        rules = parse_rules(policy.rules)
    except RuleError:
        return False
    return evaluate(rules, facts)


async def queue_push(
    session: AsyncSession, repo: Repository, policy: MirroringPolicy, tag: str, digest: str
) -> MirrorJob | None:
    """A push job for the tag when the policy's rules hold for it."""
    if not policy.enabled or not await _matches(session, repo, policy, tag):
        return None
    remote_tag = render_tag_template(policy.tag_template, tag, utcnow())
    return await enqueue(
        session, PUSH, repo.id, policy_id=policy.id, tag=tag, digest=digest, remote_tag=remote_tag
    )


async def evaluate_existing(
    session: AsyncSession, repo: Repository, policy: MirroringPolicy
) -> int:
    """initialEvaluation: a push job for every existing tag that meets the rules."""
    count = 0
    for tag in await session.scalars(
        select(Tag).where(Tag.repository_id == repo.id).order_by(Tag.name).limit(MAX_INITIAL)
    ):
        if await queue_push(session, repo, policy, tag.name, tag.digest) is not None:
            count += 1
    return count


async def evaluate_now(session: AsyncSession, repo: Repository, policy: MirroringPolicy) -> None:
    """initialEvaluation: push the existing tags that meet the rules, or poll the remote now."""
    if not policy.enabled:
        return
    if policy.mirroring_type == PUSH:
        await evaluate_existing(session, repo, policy)
    else:
        await enqueue(session, POLL, repo.id, policy_id=policy.id)


async def manual_push(
    session: AsyncSession, repo: Repository, tag: str, remote_tag: str, target: dict[str, Any]
) -> MirrorJob:
    row = await session.scalar(select(Tag).where(Tag.repository_id == repo.id, Tag.name == tag))
    if row is None:
        raise DockyardError(ErrorCode.NO_SUCH_TAG, detail={"tag": tag[:128]})
    if not is_valid_tag(remote_tag):
        raise DockyardError(ErrorCode.INVALID_TAG_NAME, detail={"remoteTag": remote_tag[:128]})
    return await enqueue(
        session, PUSH, repo.id, tag=tag, digest=row.digest, remote_tag=remote_tag, target=target
    )
