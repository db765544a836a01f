"""Matching an image's inventory against one version of the vulnerability database.

Each package is looked up under the OSV ecosystem strings of its family and the image's
release (`ecosystems_for`): Debian "Debian:<major>", Ubuntu "Ubuntu:<VERSION_ID>" (OSV's
"Ubuntu:22.04:LTS" is stored as "Ubuntu:22.04"), Alpine "Alpine:v<major>.<minor>", each also
under the bare family (records that name no release apply to all); PyPI and npm as they are.
Candidate rows are read for the inventory's names in batches over the
(db_version, ecosystem, name) index, then each is decided in the ecosystem's own version order
(`version_ranges.evaluate`).

Duplicates are folded, so every vulnerability counts once per package:
- one Finding per (vulnerability id, source package and version): a Debian or Alpine source
  package installed as several binaries (openssl and libssl3) is reported once, on the
  package named like the source when there is one, else on the first binary by name;
- records that are aliases of each other (a GHSA and a PYSEC record of one CVE, linked by
  `aliases`) are one vulnerability: the most severe record is kept and the others' ids join its
  aliases.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.scanning.osv import normalise_ecosystem, normalise_name
from dockyard.scanning.packages import Distro, Package
from dockyard.scanning.severity import BUCKETS
from dockyard.scanning.version_ranges import VERSION_CLASSES, Orderings, evaluate
from dockyard.scanning.vulndb_models import CURRENT, VulnAffected, VulnDbVersion

if TYPE_CHECKING:
    from dockyard.scanning.inventory import Inventory

NAMES_PER_QUERY = 500
LINK = "https://osv.dev/vulnerability/{}"


class VulnDBVersionGone(LookupError):
    """The database version is not (or no longer) current: match again with `current_db`."""


@dataclass(frozen=True)
class Finding:
    vuln_id: str
    aliases: tuple[str, ...]
    summary: str
    severity: str  # "critical" | "major" | "minor"
    cvss: float | None  # None: no score in the record, counted as "major" (severity_note says)
    severity_note: str
    package: Package
    fixed_version: str | None
    link: str


def ecosystems_for(package: Package, distro: Distro | None) -> tuple[str, ...]:
    """The stored ecosystem strings a package is looked up under."""
    family = package.ecosystem
    if family not in VERSION_CLASSES:
        return ()
    if family in ("PyPI", "npm"):
        return (family,)
    if distro is None or distro.id.lower() != family.lower() or not distro.version_id:
        return (family,)
    parts = distro.version_id.split(".")
    if family == "Debian":
        release = parts[0]
    elif family == "Alpine":
        release = "v" + ".".join(parts[:2])
    else:
        release = distro.version_id
    normalised = normalise_ecosystem(f"{family}:{release}")
    return (normalised[1], family) if normalised else (family,)


async def _version_is_current(session: AsyncSession, db_version: int) -> bool:
    status = await session.scalar(
        select(VulnDbVersion.status).where(VulnDbVersion.version == db_version)
    )
    return status == CURRENT


async def _candidates(
    session: AsyncSession, db_version: int, ecosystems: Sequence[str], names: Sequence[str]
) -> list[Any]:
    rows: list[Any] = []
    for start in range(0, len(names), NAMES_PER_QUERY):
        chunk = names[start : start + NAMES_PER_QUERY]
        result = await session.execute(
            select(
                VulnAffected.ecosystem,
                VulnAffected.name,
                VulnAffected.vuln_id,
                VulnAffected.aliases,
                VulnAffected.summary,
                VulnAffected.ranges,
                VulnAffected.versions,
                VulnAffected.severity,
                VulnAffected.cvss,
                VulnAffected.severity_note,
            ).where(
                VulnAffected.db_version == db_version,
                VulnAffected.ecosystem.in_(ecosystems),
                VulnAffected.name.in_(chunk),
            )
        )
        rows.extend(result.all())
    return rows


def _representative(packages: Iterable[Package]) -> Package:
    """The package a source package's finding is reported on (see the module docstring)."""
    return min(packages, key=lambda p: (p.binary is not None, p.binary or "", p.layer))


def _severity_rank(finding: Finding) -> tuple[int, float, str]:
    return (-BUCKETS.index(finding.severity), finding.cvss or 0.0, finding.vuln_id)


def fold_aliases(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per vulnerability of a package: alias records folded into the most severe."""
    kept: list[Finding] = []
    for finding in sorted(findings, key=_severity_rank, reverse=True):
        names = {finding.vuln_id, *finding.aliases}
        for i, other in enumerate(kept):
            if other.package.key == finding.package.key and names & {other.vuln_id, *other.aliases}:
                merged = sorted({*other.aliases, *names} - {other.vuln_id})
                kept[i] = replace(other, aliases=tuple(merged))
                break
        else:
            kept.append(finding)
    return kept


def _decide(
    rows: Sequence[Any],
    groups: dict[tuple[str, str], dict[str, list[Package]]],
    ecosystem_keys: dict[str, tuple[str, ...]],
) -> dict[tuple[str, str, str, str], Finding]:
    orderings = Orderings()
    found: dict[tuple[str, str, str, str], Finding] = {}
    for row in rows:
        for key in ecosystem_keys.get(row.ecosystem, ()):
            for version, packages in groups.get((key, row.name), {}).items():
                family = packages[0].ecosystem
                verdict = evaluate(family, version, row.ranges, row.versions, orderings)
                if not verdict.affected:
                    continue
                ident = (row.vuln_id, family, row.name, version)
                previous = found.get(ident)
                fixed = verdict.fixed_version
                if previous is not None and previous.fixed_version and fixed:
                    order = orderings.of(VERSION_CLASSES[family])
                    a, b = order.parse(previous.fixed_version), order.parse(fixed)
                    if a is not None and b is not None and a < b:
                        fixed = previous.fixed_version
                found[ident] = Finding(
                    vuln_id=row.vuln_id,
                    aliases=tuple(a for a in row.aliases if a != row.vuln_id),
                    summary=row.summary,
                    severity=row.severity,
                    cvss=row.cvss,
                    severity_note=row.severity_note,
                    package=_representative(packages),
                    fixed_version=fixed or (previous.fixed_version if previous else None),
                    link=LINK.format(row.vuln_id),
                )
    return found


async def match(session: AsyncSession, inventory: Inventory, db_version: int) -> list[Finding]:
    """Every vulnerability of the inventory's packages in `db_version` (which must be current;
    VulnDBVersionGone otherwise, or when it was replaced while this read it)."""
    if not await _version_is_current(session, db_version):
        raise VulnDBVersionGone(f"vulnerability database version {db_version} is not current")
    # (lookup key, name) -> installed version -> the packages at that version
    groups: dict[tuple[str, str], dict[str, list[Package]]] = defaultdict(lambda: defaultdict(list))
    ecosystem_keys: dict[str, tuple[str, ...]] = defaultdict(tuple)
    for package in inventory.packages:
        ecosystems = ecosystems_for(package, inventory.distro)
        if not ecosystems:
            continue
        key = "|".join(ecosystems)
        name = normalise_name(package.ecosystem, package.name)
        groups[(key, name)][package.version].append(package)
        for ecosystem in ecosystems:
            if key not in ecosystem_keys[ecosystem]:
                ecosystem_keys[ecosystem] += (key,)
    rows: list[Any] = []
    for key in sorted({k for k, _ in groups}):
        names = sorted({n for k, n in groups if k == key})
        rows.extend(await _candidates(session, db_version, key.split("|"), names))
    found = _decide(rows, groups, ecosystem_keys)
    if not await _version_is_current(session, db_version):
        raise VulnDBVersionGone(f"vulnerability database version {db_version} was replaced")
    findings = fold_aliases(list(found.values()))
    return sorted(findings, key=lambda f: (f.package.ecosystem, f.package.name, f.vuln_id))
