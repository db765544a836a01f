"""Read-only lookups of the Tags tab and the tag page, for a page that has already checked
read access on the repository: a page of tags in a chosen order, an index's platforms (for
a page of tags at once), a tag's
history (which digest it pointed at, and when), and an image's referrers by artifact type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.repos.models import Manifest, ManifestReference, Repository, Tag, TagHistory
from dockyard.ui.queries import TAG_ORDER, TagRow, _tag_row, _tags_with_manifests
from dockyard.ui.windows import Window, keyset_window

HISTORY_PER_PAGE = 20
# A subject with more referrers than this shows the newest ones and says there are more.
MAX_REFERRERS = 200


async def index_platforms(
    session: AsyncSession, repo: Repository, digests: list[str]
) -> dict[str, list[tuple[str, str]]]:
    """Digest -> the (os, architecture) of each child, for the indexes among a page of tags'
    digests (one statement; an image manifest has no children and is absent)."""
    if not digests:
        return {}
    rows = await session.execute(
        select(Manifest.digest, ManifestReference.os, ManifestReference.architecture)
        .join(ManifestReference, ManifestReference.manifest_id == Manifest.id)
        .where(
            Manifest.repository_id == repo.id,
            Manifest.digest.in_(digests),
            ManifestReference.kind == "manifest",
        )
        .order_by(Manifest.digest, ManifestReference.os, ManifestReference.architecture)
    )
    found: dict[str, list[tuple[str, str]]] = {}
    for digest, os_name, arch in rows:
        found.setdefault(digest, []).append((os_name, arch))
    return found


async def tag_history_window(
    session: AsyncSession, repo: Repository, tag: str, start: str, size: int = HISTORY_PER_PAGE
) -> Window[TagHistory]:
    """One page of a tag's history, newest first, from the entry numbered `start`."""
    stmt = select(TagHistory).where(TagHistory.repository_id == repo.id, TagHistory.tag == tag)
    begin = (int(start),) if start.isdigit() else None
    window = await keyset_window(session, stmt, (TagHistory.id,), begin, size, descending=True)
    return window.map(lambda row: row[0], lambda row: str(row[0].id))


@dataclass(frozen=True)
class Referrer:
    manifest: Manifest
    annotations: dict[str, str]

    @property
    def kind(self) -> str:
        """What the artifact is: its artifactType, else its config's media type."""
        return self.manifest.artifact_type or self.manifest.config_media_type or "unknown"


@dataclass
class ReferrerGroup:
    artifact_type: str
    items: list[Referrer] = field(default_factory=list)


def _annotations(text: str) -> dict[str, str]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


async def referrer_groups(
    session: AsyncSession, repo: Repository, subjects: list[str]
) -> tuple[list[ReferrerGroup], bool]:
    """The manifests whose `subject` is one of `subjects` (signatures, SBOMs, attestations),
    grouped by artifact type, newest first in each; and whether there were more than shown."""
    rows = list(
        await session.scalars(
            select(Manifest)
            .where(Manifest.repository_id == repo.id, Manifest.subject_digest.in_(subjects))
            .order_by(Manifest.id.desc())
            .limit(MAX_REFERRERS + 1)
        )
    )
    groups: dict[str, ReferrerGroup] = {}
    for manifest in rows[:MAX_REFERRERS]:
        ref = Referrer(manifest, _annotations(manifest.annotations_json))
        groups.setdefault(ref.kind, ReferrerGroup(ref.kind)).items.append(ref)
    return sorted(groups.values(), key=lambda g: g.artifact_type), len(rows) > MAX_REFERRERS


# The Tags tab's sorts: (columns, descending). Newest and oldest: the (repository_id,
# updated_at, id) index; by name: the unique (repository_id, name) index.
TAG_SORTS: dict[str, tuple[tuple[Any, ...], bool]] = {
    "newest": (TAG_ORDER, True),
    "oldest": (TAG_ORDER, False),
    "name": ((Tag.name,), False),
    "name-desc": ((Tag.name,), True),
}


async def sorted_tags_window(
    session: AsyncSession, repo: Repository, search: str, start: str, size: int, sort: str
) -> Window[TagRow]:
    """One page of the Tags tab in a TAG_SORTS order, from the tag named `start` (the first
    page when it names none), filtered by a substring of the name: in SQL, over the index."""
    order, descending = TAG_SORTS.get(sort, TAG_SORTS["newest"])
    stmt = _tags_with_manifests(repo)
    if search:
        stmt = stmt.where(Tag.name.contains(search, autoescape=True))
    begin = None
    if start:
        found = await session.execute(
            select(*order).where(Tag.repository_id == repo.id, Tag.name == start)
        )
        begin = found.first()
    window = await keyset_window(session, stmt, order, begin, size, descending=descending)
    return window.map(lambda row: _tag_row(row[0], row[1]), lambda row: row[0].name)
