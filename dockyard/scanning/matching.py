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

from cachetools import LRUCache
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


async def _version_token(session: AsyncSession, db_version: int) -> tuple[Any, ...] | None:
    """What names this version's rows in the cache (its database and when it became current),
    or None when it is not current."""
    row = (
        await session.execute(
            select(VulnDbVersion.status, VulnDbVersion.completed_at).where(
                VulnDbVersion.version == db_version
            )
        )
    ).first()
    if row is None or row.status != CURRENT:
        return None
    return (str(session.get_bind().engine.url), db_version, row.completed_at)


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


@dataclass(frozen=True)
class _Hit:
    """What one record says of one installed version: a Finding without its package."""

    vuln_id: str
    aliases: tuple[str, ...]
    summary: str
    severity: str
    cvss: float | None
    severity_note: str
    fixed_version: str | None


Hits = tuple[_Hit, ...]
# (version token, lookup key, name, installed version) -> its hits. Rows of a version never change
# once it is current, so this is never stale; it lets a re-check of many images that share
# packages read and decide each package once. Used from the event loop's thread only.
# Bounded by hits (an empty entry counts one), here and in _FINDINGS: some 30 MB at most.
CACHE_HITS = 50_000


def _weight(hits: Hits) -> int:
    return 1 + len(hits)


_CACHE: LRUCache[tuple[tuple[Any, ...], str, str, str], Hits] = LRUCache(
    maxsize=CACHE_HITS, getsizeof=_weight
)
_FINDINGS: LRUCache[tuple[Any, ...], tuple[Finding, ...]] = LRUCache(
    maxsize=CACHE_HITS, getsizeof=lambda found: 1 + len(found)
)


def _severity_rank(hit: _Hit) -> tuple[int, float, str]:
    return (-BUCKETS.index(hit.severity), hit.cvss or 0.0, hit.vuln_id)


def fold_aliases(hits: Sequence[_Hit]) -> Hits:
    """The hits of one package, records that are aliases of each other folded into the most
    severe one (whose aliases gain the others' ids)."""
    if len(hits) < 2:
        return tuple(hits)
    kept: list[_Hit] = []
    by_name: dict[str, int] = {}  # id or alias -> index in kept
    for hit in sorted(hits, key=_severity_rank, reverse=True):
        names = {hit.vuln_id, *hit.aliases}
        index = next((by_name[n] for n in names if n in by_name), None)
        if index is None:
            index = len(kept)
            kept.append(hit)
        else:
            other = kept[index]
            merged = tuple(sorted({*other.aliases, *names} - {other.vuln_id}))
            kept[index] = replace(other, aliases=merged)
        for name in names:
            by_name.setdefault(name, index)
    return tuple(kept)


def _smaller_fix(family: str, a: str | None, b: str | None, orderings: Orderings) -> str | None:
    if a is None or b is None:
        return a or b
    order = orderings.of(VERSION_CLASSES[family])
    parsed_a, parsed_b = order.parse(a), order.parse(b)
    if parsed_a is not None and parsed_b is not None and parsed_b < parsed_a:
        return b
    return a


def _decide(
    rows: Sequence[Any], wanted: dict[tuple[str, str], dict[str, str]], keys: dict[str, list[str]]
) -> dict[tuple[str, str, str], Hits]:
    """The hits of every wanted (key, name, version); `wanted` maps (key, name) to each
    installed version's family, `keys` an ecosystem string to the lookup keys it serves."""
    orderings = Orderings()
    found: dict[tuple[str, str, str], dict[str, _Hit]] = defaultdict(dict)
    for row in rows:
        for key in keys.get(row.ecosystem, ()):
            for version, family in wanted.get((key, row.name), {}).items():
                verdict = evaluate(family, version, row.ranges, row.versions, orderings)
                if not verdict.affected:
                    continue
                hits = found[(key, row.name, version)]
                previous = hits.get(row.vuln_id)
                fixed = verdict.fixed_version
                if previous is not None:  # the record names the package twice: the smaller fix
                    fixed = _smaller_fix(family, previous.fixed_version, fixed, orderings)
                hits[row.vuln_id] = _Hit(
                    row.vuln_id,
                    tuple(a for a in row.aliases if a != row.vuln_id),
                    row.summary,
                    row.severity,
                    row.cvss,
                    row.severity_note,
                    fixed,
                )
    return {
        (key, name, version): fold_aliases(list(found.get((key, name, version), {}).values()))
        for (key, name), versions in wanted.items()
        for version in versions
    }


def _group(inventory: Inventory) -> dict[tuple[str, str, str], list[Package]]:
    """(lookup key, name, installed version) -> the inventory's packages at that version."""
    groups: dict[tuple[str, str, str], list[Package]] = defaultdict(list)
    keys: dict[str, str] = {}  # family -> lookup key, for this image's distribution
    for package in inventory.packages:
        key = keys.get(package.ecosystem)
        if key is None:
            key = keys[package.ecosystem] = "|".join(ecosystems_for(package, inventory.distro))
        if key:
            name = normalise_name(package.ecosystem, package.name)
            groups[(key, name, package.version)].append(package)
    return groups


async def _uncached_hits(
    session: AsyncSession,
    db_version: int,
    token: tuple[Any, ...],
    groups: dict[tuple[str, str, str], list[Package]],
) -> dict[tuple[str, str, str], Hits]:
    """The hits of the groups the cache does not hold, read and decided now."""
    wanted: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for key, name, version in groups:
        if (token, key, name, version) not in _CACHE:
            wanted[(key, name)][version] = groups[(key, name, version)][0].ecosystem
    keys: dict[str, list[str]] = defaultdict(list)
    rows: list[Any] = []
    for key in sorted({k for k, _ in wanted}):
        for ecosystem in key.split("|"):
            keys[ecosystem].append(key)
        names = sorted({n for k, n in wanted if k == key})
        rows.extend(await _candidates(session, db_version, key.split("|"), names))
    return _decide(rows, wanted, keys)


def _findings(
    token: tuple[Any, ...], group: tuple[str, str, str], hits: Hits, package: Package
) -> tuple[Finding, ...]:
    """The findings of one package, by id; built once per package and database version (a
    re-check of images that share a layer builds the same ones again otherwise)."""
    memo = (token, *group, package)
    found = _FINDINGS.get(memo)
    if found is None:
        found = tuple(
            Finding(
                vuln_id=hit.vuln_id,
                aliases=hit.aliases,
                summary=hit.summary,
                severity=hit.severity,
                cvss=hit.cvss,
                severity_note=hit.severity_note,
                package=package,
                fixed_version=hit.fixed_version,
                link=LINK.format(hit.vuln_id),
            )
            for hit in sorted(hits, key=lambda h: h.vuln_id)
        )
        if _weight(hits) <= CACHE_HITS:
            _FINDINGS[memo] = found
    return found


async def match(session: AsyncSession, inventory: Inventory, db_version: int) -> list[Finding]:
    """Every vulnerability of the inventory's packages in `db_version` (which must be current;
    VulnDBVersionGone otherwise, or when it was replaced while this read it)."""
    token = await _version_token(session, db_version)
    if token is None:
        raise VulnDBVersionGone(f"vulnerability database version {db_version} is not current")
    groups = _group(inventory)
    # Read the cached hits first: storing the fresh ones may evict some of them.
    cached = {g: hits for g in groups if (hits := _CACHE.get((token, *g))) is not None}
    fresh = await _uncached_hits(session, db_version, token, groups)
    if await _version_token(session, db_version) != token:
        raise VulnDBVersionGone(f"vulnerability database version {db_version} was replaced")
    for group, hits in fresh.items():
        if _weight(hits) <= CACHE_HITS:
            _CACHE[(token, *group)] = hits
    findings: list[Finding] = []
    for group, packages in sorted(groups.items(), key=lambda g: (g[1][0].ecosystem, *g[0][1:])):
        hits = fresh.get(group, cached.get(group, ()))
        findings.extend(_findings(token, group, hits, _representative(packages)))
    return findings
