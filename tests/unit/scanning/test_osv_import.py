"""Importing OSV bundles (dockyard/scanning/vulndb.py, osv.py, osv_archive.py): formats, record
validation, versions and the atomic switch, broken and hostile archives, imports that die."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.scanning import vulndb
from dockyard.scanning.osv import RecordError, parse_record
from dockyard.scanning.vulndb import (
    ImportLimits,
    VulnDBBusyError,
    VulnDBImportError,
    current_db,
    import_osv,
)
from dockyard.scanning.vulndb_models import CURRENT, GONE, IMPORTING, VulnAffected, VulnDbVersion
from tests.fakes import osv

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
VALID = len(osv.RECORDS) - osv.WITHDRAWN
REPO = Path(__file__).resolve().parents[3]


def clock() -> datetime:
    return NOW


@pytest.fixture
def migrated(database_url: str) -> Iterator[str]:
    upgrade(database_url)
    yield database_url


@pytest.fixture
async def sm(migrated: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(migrated)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def rows_by_version(sm: async_sessionmaker[AsyncSession]) -> dict[int, int]:
    async with sm() as session:
        result = await session.execute(
            select(VulnAffected.db_version, func.count()).group_by(VulnAffected.db_version)
        )
        return {version: count for version, count in result.all()}


async def statuses(sm: async_sessionmaker[AsyncSession]) -> dict[int, str]:
    async with sm() as session:
        result = await session.execute(select(VulnDbVersion.version, VulnDbVersion.status))
        return dict(result.all())  # type: ignore[arg-type]


async def current_version(sm: async_sessionmaker[AsyncSession]) -> int | None:
    async with sm() as session:
        db = await current_db(session)
    return db.version if db else None


def good(vuln_id: str = "GHSA-good", name: str = "jinja2") -> dict[str, Any]:
    return {
        "id": vuln_id,
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            }
        ],
    }


def zip_of(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


# -- formats ------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["zip", "folder", "tar"])
async def test_each_bundle_form_imports_the_fixture(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path, form: str
) -> None:
    writer = {"zip": osv.write_zip, "folder": osv.write_folder, "tar": osv.write_tar}[form]
    source = writer(tmp_path / {"zip": "all.zip", "folder": "osv", "tar": "osv.tar.gz"}[form])
    result = await import_osv(sm, source, clock=clock)
    # one row per affected package of a matched ecosystem: the Go and GIT-only records have none
    assert (result.db_version, result.records, result.skipped, result.rows) == (1, VALID, 0, 19)
    assert result.updated_at == NOW
    async with sm() as session:
        db = await current_db(session)
    assert db is not None and (db.version, db.updated_at, db.records) == (1, NOW, VALID)


async def test_a_single_json_file_holding_a_list_of_records(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    source = tmp_path / "records.json"
    source.write_text(json.dumps([good("A-1"), good("A-2")]))
    result = await import_osv(sm, source, clock=clock)
    assert (result.records, result.rows) == (2, 2)


async def test_rows_are_normalised(sm: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    await import_osv(sm, osv.write_zip(tmp_path / "all.zip"), clock=clock)
    async with sm() as session:
        rows = (await session.scalars(select(VulnAffected))).all()
    keys = {(r.ecosystem, r.name) for r in rows}
    assert ("PyPI", "markupsafe") in keys  # PEP 503
    assert ("Ubuntu:22.04", "zlib") in keys  # ":LTS" dropped
    assert ("npm", "@babel/core") in keys
    assert not any(r.ecosystem == "Go" for r in rows)
    markupsafe = next(r for r in rows if r.name == "markupsafe")
    assert (markupsafe.ranges, markupsafe.versions) == ([], ["2.1.2", "2.1.3"])
    assert (markupsafe.severity, markupsafe.cvss) == ("minor", 1.8)


# -- record validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        [],
        "a string",
        {"affected": []},  # no id
        {"id": ""},
        {"id": 42},
        {"id": "X-1", "aliases": "CVE-1"},
        {"id": "X-1", "affected": {"package": {}}},
        {"id": "X-1", "affected": [{"package": {"ecosystem": "PyPI"}}]},  # no name
        {
            "id": "X-1",
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": "a"},
                    "ranges": [
                        {"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "1"}]}
                    ],
                }
            ],
        },
        {
            "id": "X-1",
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": "a"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"fixd": "1"}]}],
                }
            ],
        },
        {
            "id": "X-1",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "a"}, "versions": [1, 2]}],
        },
        {"id": "X" * 200},
        {"id": "X-1", "withdrawn": True},
    ],
)
def test_records_of_the_wrong_shape_are_rejected(data: Any) -> None:
    with pytest.raises(RecordError):
        parse_record(data)


def test_a_withdrawn_record_gives_no_rows() -> None:
    parsed = parse_record({**good(), "withdrawn": "2024-01-01T00:00:00Z"})
    assert parsed.withdrawn and parsed.rows == ()


def test_package_level_severity_wins_over_the_records() -> None:
    record = good()
    record["severity"] = [{"type": "CVSS_V3", "score": osv.CRITICAL_98}]
    record["affected"][0]["severity"] = [{"type": "CVSS_V3", "score": osv.MINOR_18}]
    (row,) = parse_record(record).rows
    assert (row.severity, row.cvss) == ("minor", 1.8)


def test_the_summary_falls_back_to_the_first_line_of_details() -> None:
    (row,) = parse_record({**good(), "details": "\n  First line.\nSecond line."}).rows
    assert row.summary == "First line."


async def test_records_that_do_not_parse_are_skipped_and_counted(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    source = zip_of(
        tmp_path / "mixed.zip",
        {
            "GHSA-good.json": json.dumps(good()).encode(),
            "list.json": json.dumps([good("L-1"), {"id": 5}]).encode(),
            "not-json.json": b"{ this is not json",
            "latin1.json": '{"id": "caf\xe9"}'.encode("latin-1"),
            "no-id.json": json.dumps({"affected": []}).encode(),
            "big.json": json.dumps({**good("BIG-1"), "details": "x" * 5000}).encode(),
            "README.md": b"not a record, not counted",
            "dir/": b"",
        },
    )
    limits = ImportLimits(max_record_bytes=4096)
    result = await import_osv(sm, source, clock=clock, limits=limits)
    assert (result.records, result.skipped) == (2, 5)
    async with sm() as session:
        ids = set((await session.scalars(select(VulnAffected.vuln_id))).all())
    assert ids == {"GHSA-good", "L-1"}


# -- versions and the switch --------------------------------------------------------------------


async def test_each_import_is_a_new_version_and_old_rows_go(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    first = await import_osv(sm, osv.write_zip(tmp_path / "1.zip"), clock=clock)
    assert await rows_by_version(sm) == {1: 19}
    second = await import_osv(
        sm, osv.write_zip(tmp_path / "2.zip", osv.RECORDS + osv.UPDATE_RECORDS), clock=clock
    )
    assert (first.db_version, second.db_version, second.records) == (1, 2, VALID + 1)
    assert await current_version(sm) == 2
    assert await rows_by_version(sm) == {2: 20}
    assert await statuses(sm) == {1: GONE, 2: CURRENT}


async def test_the_previous_version_serves_until_the_switch(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await import_osv(sm, osv.write_zip(tmp_path / "1.zip"), clock=clock)
    seen: list[int | None] = []
    real_switch = vulndb._switch

    async def observing_switch(*args: Any) -> datetime:
        seen.append(await current_version(sm))  # every batch of version 2 is written by now
        return await real_switch(*args)

    monkeypatch.setattr(vulndb, "_switch", observing_switch)
    await import_osv(
        sm, osv.write_zip(tmp_path / "2.zip"), clock=clock, limits=ImportLimits(batch_rows=3)
    )
    assert seen == [1]
    assert await current_version(sm) == 2


# -- broken and hostile archives ----------------------------------------------------------------


def corrupt_zip(path: Path) -> Path:
    osv.write_zip(path)
    data = bytearray(path.read_bytes())
    start = data.index(b"DEBIAN-CVE") + 200  # inside the first member's compressed data
    data[start : start + 64] = b"\x00" * 64
    path.write_bytes(bytes(data))
    return path


def truncated_tar(path: Path) -> Path:
    osv.write_tar(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def not_an_archive(path: Path) -> Path:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    return path


def all_invalid(path: Path) -> Path:
    return zip_of(path, {"a.json": b"[1, 2]", "b.json": b"nope", "c.json": b'{"id": ""}'})


def empty_folder(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (corrupt_zip, "corrupt"),
        (truncated_tar, "corrupt"),
        (not_an_archive, "not a zip, tar or JSON file"),
        (all_invalid, "no valid OSV record in the archive: 4 skipped"),
        (empty_folder, "no valid OSV record in the archive: 0 skipped"),
    ],
)
async def test_a_broken_archive_leaves_the_current_version(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path, make: Any, message: str
) -> None:
    await import_osv(sm, osv.write_zip(tmp_path / "good.zip"), clock=clock)
    with pytest.raises(VulnDBImportError, match=message):
        await import_osv(sm, make(tmp_path / "broken"), clock=clock)
    assert await current_version(sm) == 1
    assert await rows_by_version(sm) == {1: 19}
    assert await statuses(sm) == {1: CURRENT, 2: GONE}
    async with sm() as session:
        failed = await session.get(VulnDbVersion, 2)
    assert failed is not None and failed.error and message.split(":")[0] in failed.error


async def test_a_missing_source_fails(sm: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    with pytest.raises(VulnDBImportError, match="no such file"):
        await import_osv(sm, tmp_path / "nowhere.zip", clock=clock)
    assert await current_version(sm) is None


async def test_too_many_entries_fails(sm: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    source = zip_of(
        tmp_path / "many.zip", {f"{i}.json": json.dumps(good(f"A-{i}")).encode() for i in range(20)}
    )
    with pytest.raises(VulnDBImportError, match="more than 10 entries"):
        await import_osv(sm, source, clock=clock, limits=ImportLimits(max_records=10))
    assert await current_version(sm) is None


async def test_too_many_records_in_one_entry_fails(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    source = tmp_path / "list.json"
    source.write_text(json.dumps([good(f"A-{i}") for i in range(20)]))
    with pytest.raises(VulnDBImportError, match="more than 10 records"):
        await import_osv(sm, source, clock=clock, limits=ImportLimits(max_records=10))


async def test_a_zip_bomb_entry_is_skipped_without_being_inflated(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    bomb = b'{"id": "BOMB-1", "details": "' + b" " * (64 * 1024 * 1024) + b'"}'
    source = zip_of(
        tmp_path / "bomb.zip", {"bomb.json": bomb, "ok.json": json.dumps(good()).encode()}
    )
    assert source.stat().st_size < 1024 * 1024
    result = await import_osv(sm, source, clock=clock, limits=ImportLimits(max_record_bytes=65536))
    assert (result.records, result.skipped) == (1, 1)


async def test_entry_names_are_never_paths_to_write(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    inside = tmp_path / "inside"
    inside.mkdir()
    source = zip_of(
        inside / "tricks.zip",
        {
            "../../escaped.json": json.dumps(good("T-1")).encode(),
            "/etc/absolute.json": json.dumps(good("T-2")).encode(),
        },
    )
    result = await import_osv(sm, source, clock=clock)
    assert result.records == 2
    written = await asyncio.to_thread(lambda: list(tmp_path.parent.rglob("*escaped.json")))
    assert written == [] and not await asyncio.to_thread(Path("/etc/absolute.json").exists)


async def test_links_in_tars_and_folders_are_not_followed(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(good("OUTSIDE-1")))
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "real.json").write_text(json.dumps(good("REAL-1")))
    (folder / "link.json").symlink_to(outside)
    assert (await import_osv(sm, folder, clock=clock)).records == 1

    tar_path = tmp_path / "links.tar"
    with tarfile.open(tar_path, "w") as archive:
        data = json.dumps(good("REAL-2")).encode()
        info = tarfile.TarInfo("real.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("link.json")
        link.type, link.linkname = tarfile.SYMTYPE, str(outside)
        archive.addfile(link)
    result = await import_osv(sm, tar_path, clock=clock)
    assert result.records == 1
    async with sm() as session:
        ids = set((await session.scalars(select(VulnAffected.vuln_id))).all())
    assert ids == {"REAL-2"}


# -- imports that die ---------------------------------------------------------------------------


async def test_an_import_that_fails_halfway_leaves_the_previous_version(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await import_osv(sm, osv.write_zip(tmp_path / "1.zip"), clock=clock)
    real_write = vulndb._write_batch
    calls = 0

    async def failing_write(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("disk on fire")
        await real_write(*args)

    monkeypatch.setattr(vulndb, "_write_batch", failing_write)
    with pytest.raises(RuntimeError, match="disk on fire"):
        await import_osv(
            sm, osv.write_zip(tmp_path / "2.zip"), clock=clock, limits=ImportLimits(batch_rows=3)
        )
    assert await current_version(sm) == 1
    assert await rows_by_version(sm) == {1: 19}  # the two batches written were removed
    assert (await statuses(sm))[2] == GONE


async def leave_importing(
    sm: async_sessionmaker[AsyncSession], version: int, owner: str, heartbeat: datetime
) -> None:
    async with sm() as session, session.begin():
        session.add(
            VulnDbVersion(
                version=version,
                status=IMPORTING,
                owner=owner,
                heartbeat_at=heartbeat,
                created_at=heartbeat,
                source="x.zip",
            )
        )
        session.add(
            VulnAffected(
                db_version=version,
                ecosystem="PyPI",
                name="left",
                vuln_id="LEFT-1",
                aliases=[],
                summary="",
                ranges=[],
                versions=["1"],
                severity="major",
                cvss=None,
                severity_note="",
            )
        )


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


async def test_an_import_left_by_a_dead_process_is_discarded(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await import_osv(sm, osv.write_zip(tmp_path / "1.zip"), clock=clock)
    await leave_importing(sm, 2, f"{socket.gethostname()}:{dead_pid()}", NOW)
    assert await current_version(sm) == 1
    result = await import_osv(sm, osv.write_zip(tmp_path / "3.zip"), clock=clock)
    assert result.db_version == 3
    assert await statuses(sm) == {1: GONE, 2: GONE, 3: CURRENT}
    assert await rows_by_version(sm) == {3: 19}


async def test_a_silent_import_elsewhere_is_discarded_a_live_one_is_not(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await leave_importing(sm, 1, "another-host:1234", NOW - timedelta(seconds=30))
    with pytest.raises(VulnDBBusyError):
        await import_osv(sm, osv.write_zip(tmp_path / "a.zip"), clock=clock)
    assert await statuses(sm) == {1: IMPORTING}
    later = NOW + timedelta(minutes=5)
    result = await import_osv(sm, osv.write_zip(tmp_path / "b.zip"), clock=lambda: later)
    assert result.db_version == 2
    assert await statuses(sm) == {1: GONE, 2: CURRENT}


KILLED_IMPORT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from dockyard.db.engine import create_engine, create_sessionmaker
    from dockyard.scanning import vulndb

    real_write = vulndb._write_batch
    calls = 0

    async def write_then_hang(*args):
        global calls
        calls += 1
        await real_write(*args)
        if calls == 2:
            print("written", flush=True)
            await asyncio.sleep(3600)

    vulndb._write_batch = write_then_hang

    async def main():
        engine = create_engine(sys.argv[1])
        limits = vulndb.ImportLimits(batch_rows=3)
        await vulndb.import_osv(create_sessionmaker(engine), Path(sys.argv[2]), limits=limits)

    asyncio.run(main())
    """
)


async def test_an_import_killed_with_sigkill_halfway_leaves_the_previous_version(
    sm: async_sessionmaker[AsyncSession], migrated: str, tmp_path: Path
) -> None:
    await import_osv(sm, osv.write_zip(tmp_path / "1.zip"), clock=clock)
    source = osv.write_zip(tmp_path / "2.zip", osv.RECORDS + osv.UPDATE_RECORDS)
    child = subprocess.Popen(  # noqa: ASYNC220 (killed below; nothing waits on it meanwhile)
        [sys.executable, "-c", KILLED_IMPORT, migrated, str(source)],
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), timeout=120)
        assert line.strip() == b"written"
        assert (await rows_by_version(sm)).get(2) == 6  # two batches of version 2 committed
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert await current_version(sm) == 1
    assert await statuses(sm) == {1: CURRENT, 2: IMPORTING}
    # the next import knows the dead one's process is gone: it discards it and carries on
    result = await import_osv(sm, source, clock=clock)
    assert result.db_version == 3 and await current_version(sm) == 3
    assert await rows_by_version(sm) == {3: 20}
