"""Scans as jobs, in process: a push queues a scan through the outbox cursor, the worker
inventories each layer once, stores the result and records SCAN_COMPLETED / SCAN_FAILED; a
check after a database change fires only when the counts changed; the scan API's answers; the
lease a restarted replica held is released; retention keeps what the cursor has not read.

The database's matching is stubbed here (`execute.current_db` / `execute.match`): what these
tests check is the jobs and results around it (the real database is in the end-to-end test).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from dockyard.clock import utcnow
from dockyard.events import cursors
from dockyard.events.models import OutboxCursor, OutboxEvent
from dockyard.scanning import execute, inventory
from dockyard.scanning.inventory import Inventory
from dockyard.scanning.matching import Finding
from dockyard.scanning.models import ImageScan, LayerInventory, ScanJob
from dockyard.scanning.push_consumer import consume_pushes
from dockyard.scanning.service import enqueue_checks
from dockyard.scanning.vulndb import DbVersion
from dockyard.scanning.worker import ScanWorker
from dockyard.webhooks.retention import prune_events
from tests.fakes.inprocess import InProcess, inprocess_app
from tests.fakes.oci import OCI_MANIFEST, build_image
from tests.fakes.scan_images import ScanImage, build_debian_image


@pytest.fixture(autouse=True)
def no_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scanner reads events at once (on PostgreSQL it waits a few seconds for late commits)."""
    monkeypatch.setattr(cursors, "SETTLE", timedelta(0))


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as running:
        yield running


async def push(app: InProcess, repo: str, tag: str, layout: Path, digest: str) -> None:
    """The layout's image (config, layers, manifest) over /v2, monolithic uploads."""
    blobs = layout / "blobs" / "sha256"
    manifest = (blobs / digest.split(":")[1]).read_bytes()
    doc = json.loads(manifest)
    for ref in [doc["config"], *doc["layers"]]:
        data = (blobs / ref["digest"].split(":")[1]).read_bytes()
        r = await app.client.post(
            f"/v2/{repo}/blobs/uploads/", params={"digest": ref["digest"]}, content=data
        )
        assert r.status_code == 201, r.text
    r = await app.client.put(
        f"/v2/{repo}/manifests/{tag}", content=manifest, headers={"content-type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text


async def push_debian(app: InProcess, tmp_path: Path, repo: str, tag: str) -> ScanImage:
    image = build_debian_image(tmp_path / f"layout-{tag}", tag)
    await push(app, repo, tag, image.layout, image.image.manifest_digest)
    return image


async def drain(worker: ScanWorker) -> None:
    for _ in range(50):
        if not await worker.step():
            return
    raise AssertionError("the scanner kept finding work")


async def scans(app: InProcess) -> list[ImageScan]:
    async with app.services.session() as session:
        return list(await session.scalars(select(ImageScan).order_by(ImageScan.tag)))


async def events(app: InProcess, type_: str) -> list[dict[str, Any]]:
    async with app.services.session() as session:
        rows = await session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.type == type_).order_by(OutboxEvent.seq)
        )
        return list(rows)


def stub_database(monkeypatch: pytest.MonkeyPatch, severities: dict[str, str]) -> None:
    """A current database (version 1) whose only findings are `severities` by package name."""

    async def current_db(session: Any) -> DbVersion:
        return DbVersion(1, utcnow(), 10)

    async def match(session: Any, inventory: Inventory, db_version: int) -> list[Finding]:
        return [
            Finding(
                vuln_id=f"OSV-{p.name}",
                aliases=(f"CVE-2026-{len(p.name)}",),
                summary="test",
                severity=severities[p.name],
                cvss={"critical": 9.8, "major": 5.0, "minor": 2.0}[severities[p.name]],
                severity_note="",
                package=p,
                fixed_version="99",
                link=f"https://osv.dev/vulnerability/OSV-{p.name}",
            )
            for p in inventory.packages
            if p.name in severities
        ]

    monkeypatch.setattr(execute, "current_db", current_db)
    monkeypatch.setattr(execute, "match", match)


async def test_a_push_is_scanned_once_per_layer_without_a_database(
    app: InProcess, tmp_path: Path
) -> None:
    image = await push_debian(app, tmp_path, "admin/app", "1.0")
    worker = ScanWorker(app.services)
    await drain(worker)
    [row] = await scans(app)
    assert row.status == 4  # Scanned: no database to check against yet
    found = {(p["ecosystem"], p["name"], p["version"], p["binary"]) for p in row.components}
    assert found == {(p.ecosystem, p.name, p.version, p.binary) for p in image.expected.packages}
    assert row.layers == image.image.layer_digests
    async with app.services.session() as session:
        stored = await session.scalar(select(func.count()).select_from(LayerInventory))
    assert stored == len(image.image.layer_digests)
    assert await events(app, "SCAN_COMPLETED") == []


async def test_layers_are_read_once_and_shared(
    app: InProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await push_debian(app, tmp_path, "admin/app", "1.0")
    worker = ScanWorker(app.services)
    await drain(worker)
    calls: list[str] = []
    real = inventory.scan_layer

    def counting(digest: str, *args: Any) -> Any:
        calls.append(digest)
        return real(digest, *args)

    monkeypatch.setattr(execute, "scan_layer", counting)
    await push_debian(app, tmp_path, "admin/other", "2.0")
    await drain(worker)
    assert calls == []
    assert [r.status for r in await scans(app)] == [4, 4]


async def test_completed_counts_match_the_event_the_api_and_the_tag(
    app: InProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub_database(monkeypatch, {"openssl": "critical", "zlib": "major", "lodash": "minor"})
    await push_debian(app, tmp_path, "admin/app", "1.0")
    await drain(ScanWorker(app.services))
    [row] = await scans(app)
    # openssl is two binaries (openssl, libssl3) of one source: two findings.
    assert (row.status, row.critical, row.major, row.minor) == (6, 2, 1, 1)
    [event] = await events(app, "SCAN_COMPLETED")
    summary = event["contents"]["scanSummary"]
    assert {k: summary[k] for k in ("critical", "major", "minor", "last_scan_status")} == {
        "critical": 2,
        "major": 1,
        "minor": 1,
        "last_scan_status": 6,
    }
    assert event["contents"]["tag"] == "1.0"
    r = await app.client.get("/api/v0/imagescan/scansummary/repositories/admin/app/1.0")
    assert r.status_code == 200, r.text
    [api] = r.json()
    assert api["scanStatus"] == 6
    assert api["scannedImage"]["totalVulnCount"] == {"critical": 2, "major": 1, "minor": 1}
    assert {c["id"] for c in api["scannedImage"]["cves"]} == {
        "OSV-openssl",
        "OSV-zlib",
        "OSV-lodash",
    }
    tags = (await app.client.get("/api/v0/repositories/admin/app/tags")).json()
    assert tags[0]["vuln_summary"]["critical"] == 2
    assert tags[0]["vuln_summary"]["last_scan_status"] == 6
    csv = await app.client.get("/api/v0/imagescan/scansummary/repositories/admin/app/1.0/export")
    assert csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.strip().splitlines()) == 1 + 4
    by_cve = await app.client.get("/api/v0/imagescan/scansummary/cve/OSV-zlib")
    assert [s["scannedImage"]["tag"] for s in by_cve.json()] == ["1.0"]
    sbom = await app.client.get("/api/v0/imagescan/scansummary/repositories/admin/app/1.0/sbom")
    doc = sbom.json()
    assert doc["specVersion"] == "1.5"
    assert len(doc["components"]) == len(row.components)


async def test_a_check_fires_only_when_the_counts_change(
    app: InProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub_database(monkeypatch, {"zlib": "major"})
    await push_debian(app, tmp_path, "admin/app", "1.0")
    worker = ScanWorker(app.services)
    await drain(worker)
    assert len(await events(app, "SCAN_COMPLETED")) == 1

    async def queue_checks() -> None:
        async with app.services.session() as session:
            assert await enqueue_checks(session) == 1
            await session.commit()

    calls: list[str] = []
    monkeypatch.setattr(execute, "scan_layer", lambda *a: calls.append("read"))
    await queue_checks()
    await drain(worker)
    assert len(await events(app, "SCAN_COMPLETED")) == 1  # same counts: no event
    stub_database(monkeypatch, {"zlib": "major", "glibc": "critical"})
    await queue_checks()
    await drain(worker)
    completed = await events(app, "SCAN_COMPLETED")
    assert len(completed) == 2
    assert completed[-1]["contents"]["scanSummary"]["critical"] == 1
    assert calls == []  # checks match the stored inventory: no layer is read


async def test_a_malformed_layer_fails_with_its_error(app: InProcess, tmp_path: Path) -> None:
    # A gzip stream that holds no tar archive.
    bad = gzip.compress(b"this is not a tar archive\n" * 100)
    image = build_image(tmp_path / "bad", [bad], tag="bad")
    await push(app, "admin/app", "bad", image.layout, image.manifest_digest)
    await drain(ScanWorker(app.services))
    [row] = await scans(app)
    assert row.status == 0
    [event] = await events(app, "SCAN_FAILED")
    assert event["contents"]["error"] == row.error
    assert row.error
    assert event["contents"]["imageName"].endswith(f"/admin/app@{image.manifest_digest}")


async def test_a_repository_that_opts_out_is_not_scanned_on_push(
    app: InProcess, tmp_path: Path
) -> None:
    r = await app.client.post(
        "/api/v0/repositories/admin", json={"name": "manual", "scanOnPush": False}
    )
    assert r.status_code == 201, r.text
    assert (await app.client.post("/api/v0/repositories/admin", json={"name": "auto"})).json()[
        "scanOnPush"
    ] is True
    await push_debian(app, tmp_path, "admin/manual", "1.0")
    await drain(ScanWorker(app.services))
    assert await scans(app) == []
    r = await app.client.post("/api/v0/imagescan/scan/admin/manual/1.0/linux/amd64")
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Successfully submitted image to jobrunner"
    await drain(ScanWorker(app.services))
    assert [row.status for row in await scans(app)] == [4]


async def test_scan_api_errors(app: InProcess, tmp_path: Path) -> None:
    await push_debian(app, tmp_path, "admin/app", "1.0")
    r = await app.client.post("/api/v0/imagescan/scan/admin/app/nope/linux/amd64")
    assert (r.status_code, r.json()["errors"][0]["code"]) == (404, "NO_SUCH_TAG")
    r = await app.client.get("/api/v0/imagescan/scansummary/repositories/admin/app/nope")
    assert (r.status_code, r.json()["errors"][0]["code"]) == (404, "NO_SUCH_TAG")
    r = await app.client.put(
        "/api/v0/imagescan/scan/update", files={"file": ("x.zip", b"not an archive")}
    )
    assert (r.status_code, r.json()["errors"][0]["code"]) == (400, "SCANNING_DB_NOT_READY")


async def test_scanning_disabled(tmp_path: Path, database_url: str) -> None:
    async with inprocess_app(tmp_path / "data", database_url, scanning_enabled=False) as app:
        await push_debian(app, tmp_path, "admin/app", "1.0")
        await drain(ScanWorker(app.services))
        assert await scans(app) == []
        r = await app.client.post("/api/v0/imagescan/scan/admin/app/1.0/linux/amd64")
        assert (r.status_code, r.json()["errors"][0]["code"]) == (400, "SCANNING_NOT_ENABLED")
        assert (await app.client.get("/api/v0/imagescan/status")).json()["state"] == "disabled"


async def test_a_restarted_replica_takes_its_leases_back(app: InProcess, tmp_path: Path) -> None:
    await push_debian(app, tmp_path, "admin/app", "1.0")
    first = ScanWorker(app.services)
    async with app.services.session() as session:
        assert await consume_pushes(session, enabled=True) > 0  # queues the scan, runs nothing
        await session.commit()
    async with app.services.session() as session:
        job = await session.scalar(select(ScanJob))
        assert job is not None
        job.status, job.claimed_by, job.lease_token = "pending", first.replica, "held"
        job.next_attempt_at = utcnow() + timedelta(hours=1)
        await session.commit()
    assert await first._claim() == []  # leased: not due
    again = ScanWorker(app.services)  # the same data folder and role: the same replica
    assert again.replica == first.replica
    await again.release_own()
    assert len(await again._claim()) == 1


async def test_retention_keeps_events_the_scanner_has_not_read(
    app: InProcess, tmp_path: Path
) -> None:
    await push_debian(app, tmp_path, "admin/app", "1.0")
    async with app.services.session() as session:
        now = utcnow()
        for row in await session.scalars(select(OutboxEvent)):
            row.dispatched_at = row.created_at = now - timedelta(days=90)
        await session.commit()
    async with app.services.session() as session:
        assert await prune_events(session, utcnow() - timedelta(days=30)) == 0
        await session.commit()
    await drain(ScanWorker(app.services))  # the cursor passes them
    async with app.services.session() as session:
        # The other consumers' cursors (promotion, mirroring) hold events too: pass them here.
        last = await session.scalar(select(func.max(OutboxEvent.seq)))
        await session.execute(
            update(OutboxCursor).where(OutboxCursor.consumer != "scanning").values(seq=last)
        )
        assert await prune_events(session, utcnow() - timedelta(days=30)) > 0
        await session.commit()


async def test_a_moved_or_deleted_tag_keeps_no_stale_scan(
    app: InProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub_database(monkeypatch, {"zlib": "major"})
    await push_debian(app, tmp_path, "admin/app", "1.0")
    worker = ScanWorker(app.services)
    await drain(worker)
    other = build_image(tmp_path / "other", tag="1.0")
    await push(app, "admin/app", "1.0", other.layout, other.manifest_digest)
    await drain(worker)
    assert [r.manifest_digest for r in await scans(app)] == [other.manifest_digest]
    async with app.services.session() as session:
        assert await enqueue_checks(session) == 1
        await session.commit()
    r = await app.client.delete("/api/v0/repositories/admin/app/tags/1.0")
    assert r.status_code == 204, r.text
    stub_database(monkeypatch, {"zlib": "major", "glibc": "critical"})
    before = len(await events(app, "SCAN_COMPLETED"))
    await drain(worker)
    assert len(await events(app, "SCAN_COMPLETED")) == before  # the deleted tag: no event
    assert await scans(app) == []


async def test_old_finished_jobs_are_pruned(app: InProcess, tmp_path: Path) -> None:
    await push_debian(app, tmp_path, "admin/app", "1.0")
    worker = ScanWorker(app.services)
    await drain(worker)
    async with app.services.session() as session:
        old = utcnow() - timedelta(days=30)
        session.add(ScanJob(kind="import", status="failed", source="x", updated_at=old))
        for job in await session.scalars(select(ScanJob).where(ScanJob.kind == "scan")):
            assert job.status == "done"
            job.updated_at = old
        await session.commit()
    await worker.prune()
    async with app.services.session() as session:
        kinds = list(await session.scalars(select(ScanJob.kind)))
    assert kinds == ["import"]  # the last import's outcome stays for the status API
