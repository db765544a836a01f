"""One mirror job's work: push a tag to its remote, or poll a policy's remote for new and moved
tags; the policy's `lastMirroredAt`/`lastStatus` and the PUSH_MIRRORING / POLL_MIRRORING events
(recorded with the rows they report, so each fires once). A tag deleted on the remote is kept
locally. No HTTP routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import utcnow
from dockyard.events.bus import record
from dockyard.events.pipeline import mirroring_event
from dockyard.events.types import EventType, ImageRef
from dockyard.kit.ssrf import Network
from dockyard.policies.credentials import Vault
from dockyard.policies.mirror_models import MirroringPolicy, MirrorJob
from dockyard.policies.mirror_service import iso
from dockyard.policies.mirror_transfer import Local, pull_image, push_image
from dockyard.policies.ociclient import RemoteError, RemoteRegistry
from dockyard.policies.templates import is_valid_tag
from dockyard.repos import content
from dockyard.repos.models import Repository, Tag

MAX_POLLED_TAGS = 1000
AUTHOR = "mirroring"


@dataclass(frozen=True)
class Remote:
    url: str
    repository: str
    remote_ca: str
    skip_tls_verification: bool
    secret: str  # the encrypted credentials

    @classmethod
    def of_policy(cls, policy: MirroringPolicy) -> Remote:
        return cls(
            policy.remote_host,
            policy.remote_repository,
            policy.remote_ca,
            policy.skip_tls_verification,
            policy.secret_enc,
        )

    @classmethod
    def of_target(cls, target: dict[str, Any]) -> Remote:
        return cls(
            str(target.get("remoteHost", "")),
            str(target.get("remoteRepository", "")),
            str(target.get("remoteCA", "")),
            bool(target.get("skipTLSVerification", False)),
            str(target.get("secret", "")),
        )

    def open(self, vault: Vault, blocked: Sequence[Network]) -> RemoteRegistry:
        return RemoteRegistry(
            self.url,
            vault.decrypt(self.secret),
            remote_ca=self.remote_ca,
            skip_tls_verification=self.skip_tls_verification,
            blocked=blocked,
        )


@dataclass
class Context:
    local: Local
    vault: Vault
    blocked: Sequence[Network]


def status(code: int, detail: str, at: datetime) -> dict[str, Any]:
    return {"code": code, "detail": detail[:1000], "timestamp": iso(at)}


async def set_status(
    session: AsyncSession, policy_id: str | None, code: int, detail: str, ok: bool
) -> None:
    if policy_id is None:
        return
    now = utcnow()
    values: dict[str, Any] = {"last_status": status(code, detail, now)}
    if ok:
        values["last_mirrored_at"] = now
    await session.execute(
        update(MirroringPolicy).where(MirroringPolicy.id == policy_id).values(**values)
    )


def _event(
    kind: EventType,
    host: str,
    repo: Repository,
    rec: content.ManifestRecord | Any,
    tag: str,
    policy_id: str,
    remote: Remote,
    remote_tag: str,
) -> Any:
    image = ImageRef(repo.namespace, repo.name, rec.digest, rec.os, rec.architecture, tag)
    return mirroring_event(
        kind, host, image, policy_id, remote.url, remote.repository, remote_tag, AUTHOR, utcnow()
    )


async def run_push(ctx: Context, job: MirrorJob, repo: Repository, remote: Remote) -> str:
    """Push the job's image; on success finish the job, set the status and record
    PUSH_MIRRORING in one transaction. Returns the status detail."""
    async with remote.open(ctx.vault, ctx.blocked) as client:
        await push_image(
            ctx.local, repo, job.manifest_digest, client, remote.repository, job.remote_tag
        )
    detail = (
        f"mirrored {repo.full_name}:{job.tag} to {remote.url}/{remote.repository}:{job.remote_tag}"
    )
    async with ctx.local.sessionmaker() as session:
        manifest = await content.get_manifest(session, repo, job.manifest_digest)
        done = await session.execute(
            update(MirrorJob)
            .where(MirrorJob.id == job.id, MirrorJob.lease_token == job.lease_token)
            .values(status="done", error="", lease_token=None, updated_at=utcnow())
        )
        if getattr(done, "rowcount", 1) and manifest is not None:
            event = _event(
                EventType.PUSH_MIRRORING,
                ctx.local.host,
                repo,
                manifest,
                job.tag,
                job.policy_id or "",
                remote,
                job.remote_tag,
            )
            record(session, event)
            await set_status(session, job.policy_id, 200, detail, True)
        await session.commit()
    return detail


async def run_poll(ctx: Context, policy: MirroringPolicy, repo: Repository) -> str:
    """Pull the remote's new and moved tags in; each tag's rows, its POLL_MIRRORING event and
    the remembered remote digest are written together. Returns the status detail."""
    remote = Remote.of_policy(policy)
    pulled = 0
    async with remote.open(ctx.vault, ctx.blocked) as client:
        tags = (await client.list_tags(remote.repository))[:MAX_POLLED_TAGS]
        for tag in tags:
            if not is_valid_tag(tag):
                continue
            _body, _mt, digest = await client.get_manifest(remote.repository, tag)
            if await _local_digest(ctx, repo, tag) == digest:
                continue
            write = _tag_writer(ctx, repo, policy, remote, tag)
            await pull_image(ctx.local, repo, client, remote.repository, tag, write)
            pulled += 1
    return f"mirrored {pulled} of {len(tags)} tags from {remote.url}/{remote.repository}"


async def _local_digest(ctx: Context, repo: Repository, tag: str) -> str | None:
    async with ctx.local.sessionmaker() as session:
        digest: str | None = await session.scalar(
            select(Tag.digest).where(Tag.repository_id == repo.id, Tag.name == tag)
        )
    return digest


def _tag_writer(
    ctx: Context, repo: Repository, policy: MirroringPolicy, remote: Remote, tag: str
) -> Any:
    async def write(session: AsyncSession, rec: content.ManifestRecord) -> None:
        fresh = await session.get(Repository, repo.id)
        if fresh is None:
            raise RemoteError("the local repository was deleted")
        await content.put_manifest(session, ctx.local.host, fresh, rec, tag, AUTHOR)
        event = _event(
            EventType.POLL_MIRRORING, ctx.local.host, repo, rec, tag, policy.id, remote, tag
        )
        record(session, event)
        row = await session.get(MirroringPolicy, policy.id)
        if row is not None:
            row.remote_digests = {**(row.remote_digests or {}), tag: rec.digest}

    return write
