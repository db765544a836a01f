"""Repository logic: look up, create, update and delete repositories, recording REPO_EVENTs.

Takes a session; the caller commits. No HTTP here.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account
from dockyard.clock import rfc3339, utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.bus import record
from dockyard.events.types import RepoEventKind, repo_event
from dockyard.repos.models import Repository

# One path component of a distribution-spec name.
REPOSITORY_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
# Reserved because GET /api/v0/repositories/{ns}/webhooks lists a namespace's webhooks.
RESERVED_REPOSITORY_NAMES = frozenset({"webhooks"})


def validate_repository_name(name: str) -> None:
    if not (1 <= len(name) <= 255) or not REPOSITORY_NAME_RE.fullmatch(name):
        raise DockyardError(
            ErrorCode.INVALID_REPOSITORY_NAME,
            "Repository names use lowercase letters, digits and single separators (. _ -).",
            detail={"field": "name", "value": name},
        )
    if name in RESERVED_REPOSITORY_NAMES:
        raise DockyardError(
            ErrorCode.INVALID_REPOSITORY_NAME,
            f"'{name}' is a reserved repository name.",
            detail={"field": "name", "value": name},
        )


def repository_wire(repo: Repository, namespace_is_org: bool) -> dict[str, Any]:
    """The repository as MSR's API shows it (responses.Repository), plus dockyard extensions."""
    return {
        "id": repo.id,
        "namespace": repo.namespace,
        "namespaceType": "organization" if namespace_is_org else "user",
        "name": repo.name,
        "shortDescription": repo.short_description,
        "longDescription": repo.long_description,
        "visibility": repo.visibility,
        "scanOnPush": repo.scan_on_push,
        "immutableTags": repo.immutable_tags,
        "enableManifestLists": repo.enable_manifest_lists,
        "pulls": repo.pulls,
        "pushes": repo.pushes,
        "tagLimit": repo.tag_limit,
        "createdAt": rfc3339(repo.created_at),
        "updatedAt": rfc3339(repo.updated_at),
        "lastPushedAt": rfc3339(repo.last_pushed_at),
    }


async def get_repository(session: AsyncSession, namespace: str, name: str) -> Repository | None:
    stmt = select(Repository).where(Repository.namespace == namespace, Repository.name == name)
    result: Repository | None = await session.scalar(stmt)
    return result


async def create_repository(
    session: AsyncSession,
    namespace: Account,
    name: str,
    author: str,
    *,
    visibility: str = "private",
    short_description: str = "",
    long_description: str = "",
    scan_on_push: bool = False,
    immutable_tags: bool = False,
    enable_manifest_lists: bool = True,
    tag_limit: int = 0,
) -> Repository:
    """Create a repository and record REPO_CREATED. Authorization is the caller's job."""
    validate_repository_name(name)
    if visibility not in ("public", "private"):
        raise DockyardError(ErrorCode.INVALID_REPOSITORY_VISIBILITY)
    if await get_repository(session, namespace.name, name) is not None:
        raise DockyardError(ErrorCode.REPOSITORY_EXISTS)
    now = utcnow()
    repo = Repository(
        namespace_id=namespace.id,
        namespace=namespace.name,
        name=name,
        visibility=visibility,
        short_description=short_description,
        long_description=long_description,
        scan_on_push=scan_on_push,
        immutable_tags=immutable_tags,
        enable_manifest_lists=enable_manifest_lists,
        tag_limit=tag_limit,
        pulls=0,
        pushes=0,
        created_at=now,
        updated_at=now,
    )
    session.add(repo)
    await session.flush()
    record(
        session,
        repo_event(
            RepoEventKind.REPO_CREATED,
            namespace.name,
            name,
            author,
            repository_wire(repo, namespace.is_org),
            now,
        ),
    )
    return repo
