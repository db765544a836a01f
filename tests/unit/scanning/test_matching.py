"""Matching inventories against the vulnerability database: OSV's range rules, each ecosystem's
version order, the release an image's os-release names, and duplicates folded
(dockyard/scanning/version_ranges.py, matching.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from cachetools import LRUCache
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.scanning import matching
from dockyard.scanning.inventory import Distro, Inventory, Package
from dockyard.scanning.matching import (
    NAMES_PER_QUERY,
    Finding,
    VulnDBVersionGone,
    ecosystems_for,
    match,
)
from dockyard.scanning.version_ranges import Orderings, evaluate
from dockyard.scanning.vulndb import current_db, import_osv
from tests.fakes import osv
from tests.fakes.scan_images import build_alpine_image, build_debian_image


def eco(*events: dict[str, str]) -> list[dict[str, Any]]:
    return [{"type": "ECOSYSTEM", "events": list(events)}]


def semver(*events: dict[str, str]) -> list[dict[str, Any]]:
    return [{"type": "SEMVER", "events": list(events)}]


def verdict(
    family: str, installed: str, ranges: list[dict[str, Any]], versions: list[str] | None = None
) -> tuple[bool, str | None]:
    result = evaluate(family, installed, ranges, versions or [], Orderings())
    return result.affected, result.fixed_version


# -- the OSV range rules ------------------------------------------------------------------------

INTRO_FIX = eco({"introduced": "1.0"}, {"fixed": "2.0"})


@pytest.mark.parametrize(
    ("installed", "affected"),
    [("0.9", False), ("1.0", True), ("1.5", True), ("2.0", False), ("2.1", False)],
)
def test_introduced_is_inclusive_and_fixed_exclusive(installed: str, affected: bool) -> None:
    assert verdict("PyPI", installed, INTRO_FIX)[0] is affected


def test_introduced_zero_is_before_every_version() -> None:
    assert verdict("PyPI", "0.0.0.dev1", eco({"introduced": "0"}, {"fixed": "1.0"})) == (
        True,
        "1.0",
    )
    assert verdict("npm", "0.0.1-alpha", semver({"introduced": "0"})) == (True, None)


@pytest.mark.parametrize(
    ("installed", "affected"), [("1.4", True), ("1.5", True), ("1.5.1", False), ("0.9", False)]
)
def test_last_affected_is_inclusive(installed: str, affected: bool) -> None:
    ranges = eco({"introduced": "1.0"}, {"last_affected": "1.5"})
    assert verdict("PyPI", installed, ranges) == (affected, None)


@pytest.mark.parametrize(
    ("installed", "affected", "fixed"),
    [
        ("1.0", True, "1.2"),
        ("1.2", False, None),
        ("1.9", False, None),
        ("2.0", True, "2.3"),
        ("2.3", False, None),
    ],
)
def test_several_intervals_in_one_range(installed: str, affected: bool, fixed: str | None) -> None:
    ranges = eco(
        {"introduced": "2.0"}, {"fixed": "2.3"}, {"introduced": "1.0"}, {"fixed": "1.2"}
    )  # unsorted on purpose: the schema sorts events by version
    assert verdict("PyPI", installed, ranges) == (affected, fixed)


def test_the_smallest_fix_above_the_installed_version_across_ranges() -> None:
    ranges = [
        *eco({"introduced": "0"}, {"fixed": "3.0.5"}),
        *eco({"introduced": "0"}, {"fixed": "3.0.2"}),
        *eco({"introduced": "0"}, {"fixed": "2.9"}),
    ]
    assert verdict("PyPI", "3.0.1", ranges) == (True, "3.0.2")


def test_introduced_and_fixed_at_the_same_version_is_empty() -> None:
    assert verdict("PyPI", "1.0", eco({"introduced": "1.0"}, {"fixed": "1.0"}))[0] is False


def test_introduced_and_last_affected_at_the_same_version_holds_it() -> None:
    ranges = eco({"introduced": "1.0"}, {"last_affected": "1.0"})
    assert verdict("PyPI", "1.0", ranges)[0] is True
    assert verdict("PyPI", "1.0.1", ranges)[0] is False


@pytest.mark.parametrize(
    ("installed", "affected"), [("1.5", True), ("2.9", True), ("3.0", False), ("3.5", False)]
)
def test_limit_bounds_the_range(installed: str, affected: bool) -> None:
    ranges = eco({"introduced": "1.0"}, {"limit": "3.0"})
    assert verdict("PyPI", installed, ranges)[0] is affected


def test_limit_star_is_infinity() -> None:
    assert verdict("PyPI", "99", eco({"introduced": "1.0"}, {"limit": "*"}))[0] is True


def test_a_range_without_introduced_affects_nothing() -> None:
    assert verdict("PyPI", "0.5", eco({"fixed": "1.0"}))[0] is False


def test_explicit_versions_list() -> None:
    assert verdict("PyPI", "2.1.3", [], ["2.1.2", "2.1.3"]) == (True, None)
    assert verdict("PyPI", "2.1.4", [], ["2.1.2", "2.1.3"]) == (False, None)
    # compared as strings, as the schema's evaluation writes it (`v == version`)
    assert verdict("PyPI", "2.1", [], ["2.1.0"])[0] is False


def test_versions_list_or_ranges_either_is_enough() -> None:
    ranges = eco({"introduced": "1.0"}, {"fixed": "1.1"})
    assert verdict("PyPI", "0.5", ranges, ["0.5"]) == (True, "1.1")
    assert verdict("PyPI", "1.0", ranges, ["0.5"]) == (True, "1.1")


def test_unparseable_bounds_err_towards_reporting() -> None:
    assert verdict("PyPI", "1.5", eco({"introduced": "not a version!"}, {"fixed": "2.0"})) == (
        True,
        "2.0",
    )
    assert verdict("PyPI", "1.5", eco({"introduced": "1.0"}, {"fixed": "not a version!"}))[0]


def test_an_unparseable_installed_version_still_matches_the_versions_list() -> None:
    ranges = eco({"introduced": "0"})
    assert verdict("PyPI", "weird version!", ranges)[0] is False
    assert verdict("PyPI", "weird version!", ranges, ["weird version!"])[0] is True


# -- each ecosystem's own order -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "installed", "fixed", "affected"),
    [
        # dpkg: the epoch wins over everything after it
        ("Debian", "1:1.2.13.dfsg-1", "1.2.14", False),
        ("Debian", "1.2.13.dfsg-1", "1:1.2.12", True),
        ("Debian", "1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1", False),
        # dpkg: ~ sorts before anything, even the end of the string
        ("Debian", "3.0.11-1~deb12u2", "3.0.11-1", True),
        ("Debian", "3.0.11-1", "3.0.11-1~deb12u2", False),
        ("Debian", "2.36-9+deb12u4", "2.36-9+deb12u10", True),  # numeric, not lexical
        ("Ubuntu", "1.2.11.dfsg-2ubuntu9.1", "1.2.11.dfsg-2ubuntu9.2", True),
        # apk: -r releases compare as numbers, _p patch levels after the release
        ("Alpine", "1.36.1-r15", "1.36.1-r16", True),
        ("Alpine", "1.36.1-r9", "1.36.1-r10", True),
        ("Alpine", "1.36.1-r16", "1.36.1-r16", False),
        ("Alpine", "9.3_p2-r0", "9.3_p1-r0", False),
        ("Alpine", "1.2.4_rc1-r0", "1.2.4-r0", True),
        # PEP 440: pre-releases before the release, post-releases after it
        ("PyPI", "1.0rc1", "1.0", True),
        ("PyPI", "1.0.post1", "1.0", False),
        ("PyPI", "1.0.dev3", "1.0a1", True),
        ("PyPI", "2.19.0", "2.20.0", True),
        ("PyPI", "2.9", "2.10", True),  # numeric, not lexical
        # SemVer: a prerelease sorts before its release
        ("npm", "4.17.21-beta.1", "4.17.21", True),
        ("npm", "4.17.21", "4.17.21-beta.1", False),
        ("npm", "1.0.0-alpha.2", "1.0.0-alpha.10", True),
        ("npm", "4.17.20", "4.17.21", True),
    ],
)
def test_each_ecosystems_version_order(
    family: str, installed: str, fixed: str, affected: bool
) -> None:
    ranges = eco({"introduced": "0"}, {"fixed": fixed})
    assert verdict(family, installed, ranges) == (affected, fixed if affected else None)


def test_semver_ranges_use_semver_order_in_any_ecosystem() -> None:
    # "1.0.0-rc.1" is a SemVer prerelease (before 1.0.0) in a SEMVER range of a PyPI record
    assert verdict("PyPI", "1.0.0-rc.1", semver({"introduced": "0"}, {"fixed": "1.0.0"}))[0]


# -- ecosystems of an image ---------------------------------------------------------------------


def pkg(ecosystem: str, name: str, version: str, binary: str | None = None) -> Package:
    return Package(
        ecosystem, name, version, f"pkg:generic/{name}@{version}", None, "sha256:l", binary
    )


@pytest.mark.parametrize(
    ("ecosystem", "distro", "expected"),
    [
        ("Debian", Distro("debian", "12"), ("Debian:12", "Debian")),
        ("Ubuntu", Distro("ubuntu", "22.04"), ("Ubuntu:22.04", "Ubuntu")),
        ("Alpine", Distro("alpine", "3.19.1"), ("Alpine:v3.19", "Alpine")),
        ("Alpine", Distro("alpine", "3.20.0_alpha20240329"), ("Alpine:v3.20", "Alpine")),
        ("Debian", Distro("debian", ""), ("Debian",)),  # testing/sid: no VERSION_ID
        ("Debian", None, ("Debian",)),
        ("Debian", Distro("raspbian", "12"), ("Debian",)),
        ("PyPI", Distro("debian", "12"), ("PyPI",)),
        ("npm", None, ("npm",)),
        ("Go", None, ()),
    ],
)
def test_ecosystems_of_a_package(
    ecosystem: str, distro: Distro | None, expected: tuple[str, ...]
) -> None:
    assert ecosystems_for(pkg(ecosystem, "x", "1"), distro) == expected


# -- matching against an imported database -------------------------------------------------------


@pytest.fixture
def migrated(database_url: str) -> Iterator[str]:
    upgrade(database_url)
    yield database_url


@pytest.fixture
async def sessionmaker(migrated: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(migrated)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def load(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path, records: list[dict[str, Any]]
) -> int:
    return (await import_osv(sm, osv.write_folder(tmp_path / "osv", records))).db_version


async def scan(
    sm: async_sessionmaker[AsyncSession], inventory: Inventory, version: int | None = None
) -> list[Finding]:
    async with sm() as session:
        if version is None:
            db = await current_db(session)
            assert db is not None
            version = db.version
        return await match(session, inventory, version)


def as_expected(findings: list[Finding]) -> set[osv.Expected]:
    return {
        osv.Expected(
            f.vuln_id,
            f.package.ecosystem,
            f.package.name,
            f.package.version,
            f.severity,
            f.cvss,
            f.fixed_version,
        )
        for f in findings
    }


def record(
    vuln_id: str,
    ecosystem: str,
    name: str,
    ranges: list[dict[str, Any]] | None = None,
    versions: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    affected = {"package": {"ecosystem": ecosystem, "name": name}, "ranges": ranges or []}
    if versions is not None:
        affected["versions"] = versions
    return {"id": vuln_id, "summary": f"{vuln_id} summary", "affected": [affected], **extra}


async def test_the_fixture_images_get_exactly_the_expected_findings(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await load(sessionmaker, tmp_path, osv.RECORDS)
    debian = build_debian_image(tmp_path / "debian").expected
    alpine = build_alpine_image(tmp_path / "alpine").expected
    assert as_expected(await scan(sessionmaker, debian)) == set(osv.EXPECTED_DEBIAN)
    assert as_expected(await scan(sessionmaker, alpine)) == set(osv.EXPECTED_ALPINE)


async def test_matching_again_from_the_cache_finds_the_same_even_when_it_evicts(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await load(sessionmaker, tmp_path, osv.RECORDS)
    debian = build_debian_image(tmp_path / "debian").expected
    monkeypatch.setattr(matching, "_CACHE", LRUCache(maxsize=3))
    for _ in range(3):  # each match stores more than the cache holds
        assert as_expected(await scan(sessionmaker, debian)) == set(osv.EXPECTED_DEBIAN)
    monkeypatch.setattr(matching, "_CACHE", LRUCache(maxsize=10_000))
    first = await scan(sessionmaker, debian)
    assert await scan(sessionmaker, debian) == first


async def test_findings_carry_the_record_and_a_link(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await load(sessionmaker, tmp_path, osv.RECORDS)
    debian = build_debian_image(tmp_path / "debian").expected
    by_id = {f.vuln_id: f for f in await scan(sessionmaker, debian)}
    jinja = by_id["GHSA-h5c8-rqwp-cp95"]
    assert jinja.aliases == ("CVE-2024-22195",)
    assert jinja.summary == "Jinja vulnerable to HTML attribute injection (xmlattr)"
    assert jinja.link == "https://osv.dev/vulnerability/GHSA-h5c8-rqwp-cp95"
    assert jinja.severity_note == "CVSS 3.1 base score 5.4"
    unscored = by_id["DEBIAN-CVE-2024-2961"]
    assert unscored.severity_note == "no CVSS score in the record; counted as major"
    # openssl is installed as two binaries (openssl, libssl3): one finding, on the source name
    openssl = [f for f in by_id.values() if f.package.name == "openssl"]
    assert len(openssl) == 1 and openssl[0].package.binary is None


async def test_ubuntu_lts_and_release_less_records_match(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    fixed = eco({"introduced": "0"}, {"fixed": "1:1.2.11.dfsg-2ubuntu9.3"})
    await load(
        sessionmaker,
        tmp_path,
        [
            record("UBUNTU-1", "Ubuntu:22.04:LTS", "zlib", fixed),
            record("UBUNTU-2", "Ubuntu:22.04", "zlib", fixed),
            record("UBUNTU-3", "Ubuntu", "zlib", fixed),
            record("UBUNTU-4", "Ubuntu:20.04:LTS", "zlib", fixed),
            record("UBUNTU-5", "Ubuntu:Pro:22.04:LTS", "zlib", fixed),
        ],
    )
    zlib = pkg("Ubuntu", "zlib", "1:1.2.11.dfsg-2ubuntu9.2", "zlib1g")
    found = await scan(sessionmaker, Inventory((zlib,), Distro("ubuntu", "22.04")))
    assert sorted(f.vuln_id for f in found) == ["UBUNTU-1", "UBUNTU-2", "UBUNTU-3"]


async def test_one_finding_per_record_and_package_with_the_smallest_fix(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    twice = {
        "id": "GHSA-twice",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "Foo_Bar"},
                "ranges": eco({"introduced": "0"}, {"fixed": "2.0"}),
            },
            {
                "package": {"ecosystem": "PyPI", "name": "foo.bar"},
                "ranges": eco({"introduced": "1.0"}, {"fixed": "1.5"}),
            },
        ],
    }
    await load(sessionmaker, tmp_path, [twice])
    found = await scan(sessionmaker, Inventory((pkg("PyPI", "foo-bar", "1.2"),), None))
    assert [(f.vuln_id, f.fixed_version) for f in found] == [("GHSA-twice", "1.5")]


async def test_alias_records_are_one_vulnerability_the_most_severe_kept(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    ranges = eco({"introduced": "0"}, {"fixed": "3.0"})
    await load(
        sessionmaker,
        tmp_path,
        [
            record(
                "GHSA-aaaa",
                "PyPI",
                "jinja2",
                ranges,
                aliases=["CVE-2099-1"],
                severity=[
                    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
                ],
            ),
            record("PYSEC-2099-9", "PyPI", "jinja2", ranges, aliases=["CVE-2099-1", "GHSA-aaaa"]),
            record("GHSA-other", "PyPI", "jinja2", ranges),
        ],
    )
    found = await scan(sessionmaker, Inventory((pkg("PyPI", "jinja2", "2.0"),), None))
    assert [(f.vuln_id, f.severity, f.aliases) for f in found] == [
        ("GHSA-aaaa", "critical", ("CVE-2099-1", "PYSEC-2099-9")),
        ("GHSA-other", "major", ()),
    ]


async def test_each_installed_version_of_a_package_is_matched(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await load(
        sessionmaker,
        tmp_path,
        [record("GHSA-lodash", "npm", "lodash", semver({"introduced": "0"}, {"fixed": "4.17.21"}))],
    )
    inventory = Inventory(
        (
            pkg("npm", "lodash", "4.17.20"),
            pkg("npm", "lodash", "3.10.1"),
            pkg("npm", "lodash", "4.17.21"),
        ),
        None,
    )
    found = await scan(sessionmaker, inventory)
    assert sorted(f.package.version for f in found) == ["3.10.1", "4.17.20"]


async def test_many_names_are_looked_up_in_batches(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    count = NAMES_PER_QUERY * 2 + 7
    records = [
        record(f"GHSA-{i}", "npm", f"pkg-{i}", semver({"introduced": "0"}, {"fixed": "2.0.0"}))
        for i in range(count)
    ]
    await load(sessionmaker, tmp_path, records)
    inventory = Inventory(tuple(pkg("npm", f"pkg-{i}", "1.0.0") for i in range(count)), None)
    assert len(await scan(sessionmaker, inventory)) == count


async def test_matching_a_version_that_is_not_current_raises(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    first = await load(sessionmaker, tmp_path / "1", osv.RECORDS)
    second = await load(sessionmaker, tmp_path / "2", osv.RECORDS + osv.UPDATE_RECORDS)
    debian = build_debian_image(tmp_path / "debian").expected
    with pytest.raises(VulnDBVersionGone):
        await scan(sessionmaker, debian, first)
    with pytest.raises(VulnDBVersionGone):
        await scan(sessionmaker, debian, second + 1)
    assert as_expected(await scan(sessionmaker, debian, second)) == set(
        osv.EXPECTED_DEBIAN_AFTER_UPDATE
    )
