"""What push mirroring's rules look at, for one tag: its name, its last update, and (once every
platform is scanned) the vulnerability counts, components and licenses. Reads only.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.policies.rules import ImageFacts
from dockyard.repos.models import Repository, Tag
from dockyard.scanning import results

COMPLETED = 6


async def tag_facts(session: AsyncSession, repo: Repository, tag: str) -> ImageFacts | None:
    """None when the tag does not exist; `vulnerabilities` None until every platform is scanned."""
    row = await session.scalar(select(Tag).where(Tag.repository_id == repo.id, Tag.name == tag))
    if row is None:
        return None
    scans = await results.image_scans(session, repo, tag) or []
    counts: dict[str, int] | None = None
    components: set[str] = set()
    licenses: set[str] = set()
    if scans and all(s.status == COMPLETED for s in scans):
        counts = {"critical": 0, "major": 0, "minor": 0}
        for scan in scans:
            counts["critical"] += scan.critical
            counts["major"] += scan.major
            counts["minor"] += scan.minor
            for comp in scan.components or []:
                if comp.get("name"):
                    components.add(str(comp["name"]))
                if comp.get("license"):
                    licenses.add(str(comp["license"]))
        counts["all"] = counts["critical"] + counts["major"] + counts["minor"]
    return ImageFacts(
        tag=tag,
        vulnerabilities=counts,
        components=frozenset(components),
        licenses=frozenset(licenses),
        updated_at=row.updated_at,
    )
