"""Scanning end to end on the real server: a repository that scans on push, an OSV bundle
uploaded to PUT /api/v0/imagescan/scan/update, a fixture image pushed with skopeo, and the
webhooks a real receiver gets: SCANNER_UPDATE_COMPLETED, SCAN_COMPLETED whose counts are the
API's and the expected ones, SCAN_COMPLETED again when a new database changes them, SCAN_FAILED
for a malformed layer; a scan job left leased by a killed server completes after the restart.
"""

from __future__ import annotations

import asyncio
import gzip
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select, update

from dockyard.clock import utcnow
from dockyard.config import Settings
from dockyard.scanning.models import ImageScan, ScanJob
from dockyard.scanning.replicas import replica_id
from dockyard.services import build_services
from tests.conftest import ServerFactory
from tests.fakes import osv
from tests.fakes.oci import build_image
from tests.fakes.receiver import Received, Receiver
from tests.fakes.scan_images import build_debian_image
from tests.fakes.server import RunningServer
from tests.fakes.skopeo import push

pytestmark = pytest.mark.e2e

ENV = {"DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": ""}
SEVERITIES = ("critical", "major", "minor")
T = TypeVar("T")


def in_db(srv: RunningServer, fn: Callable[[Any], Awaitable[T]]) -> T:
    async def go() -> T:
        services = build_services(Settings(database_url=srv.database_url, data_dir=srv.data_dir))
        try:
            async with services.session() as session:
                result = await fn(session)
                await session.commit()
                return result
        finally:
            await services.close()

    return asyncio.run(go())


def subscribe(c: httpx.Client, type_: str, endpoint: str, key: str | None = None) -> None:
    body: dict[str, Any] = {"type": type_, "endpoint": endpoint}
    if key is not None:
        body["key"] = key
    r = c.post("/api/v0/webhooks", json=body)
    assert r.status_code == 201, r.text


def upload(c: httpx.Client, bundle: Path) -> httpx.Response:
    with bundle.open("rb") as f:
        return c.put(
            "/api/v0/imagescan/scan/update", files={"file": (bundle.name, f, "application/zip")}
        )


def counts_of(hook: Received) -> dict[str, int]:
    summary = hook.json["contents"]["scanSummary"]
    return {k: summary[k] for k in SEVERITIES}


def api_summary(c: httpx.Client, reference: str) -> dict[str, Any]:
    r = c.get(f"/api/v0/imagescan/scansummary/repositories/admin/app/{reference}")
    assert r.status_code == 200, r.text
    [summary] = r.json()
    return dict(summary)


def test_push_import_and_recheck_fire_webhooks_that_match_the_api(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    srv = server_factory(ENV)
    with Receiver() as rx, srv.client(auth=srv.admin_auth) as c:
        created = c.post("/api/v0/repositories/admin", json={"name": "app"})
        assert created.status_code == 201, created.text
        assert created.json()["scanOnPush"] is True  # the default for a new repository
        subscribe(c, "SCAN_COMPLETED", rx.url("/scan"), "admin/app")
        subscribe(c, "SCAN_FAILED", rx.url("/failed"), "admin/app")
        subscribe(c, "SCANNER_UPDATE_COMPLETED", rx.url("/update"))

        r = upload(c, osv.write_zip(tmp_path / "all.zip"))
        assert r.status_code == 202, r.text
        [first] = rx.wait_for(1, "/update", timeout=60)
        contents = first.json["contents"]
        assert (contents["success"], contents["db_version"]) == (True, 1)
        assert contents["replicas"], "the running scanner is a replica"
        assert {r["version"] for r in contents["replicas"].values()} == {"1"}
        status = c.get("/api/v0/imagescan/status").json()
        assert (status["state"], status["db_version"]) == ("ready", 1)

        image = build_debian_image(tmp_path / "debian", "1.0")
        push(image.image.ref("1.0"), srv.host, "admin/app:1.0", srv.admin_auth)
        [hook] = rx.wait_for(1, "/scan", timeout=120)
        expected = osv.counts(osv.EXPECTED_DEBIAN)
        assert counts_of(hook) == expected
        assert hook.json["contents"]["scanSummary"]["last_scan_status"] == 6
        assert hook.json["contents"]["imageName"] == f"{srv.host}/admin/app:1.0"
        api = api_summary(c, "1.0")
        assert api["scanStatus"] == 6
        assert api["scannedImage"]["totalVulnCount"] == expected
        assert {v["id"] for v in api["scannedImage"]["cves"]} == {
            e.vuln_id for e in osv.EXPECTED_DEBIAN
        }
        [tag] = c.get("/api/v0/repositories/admin/app/tags").json()
        assert {k: tag["vuln_summary"][k] for k in SEVERITIES} == expected

        # A new database adds a critical: the update is announced, the image re-checked.
        r = upload(c, osv.write_zip(tmp_path / "all2.zip", osv.RECORDS + osv.UPDATE_RECORDS))
        assert r.status_code == 202, r.text
        second = rx.wait_for(2, "/update", timeout=60)[-1].json["contents"]
        assert (second["success"], second["db_version"]) == (True, 2)
        recheck = rx.wait_for(2, "/scan", timeout=60)[-1]
        after = osv.counts(osv.EXPECTED_DEBIAN_AFTER_UPDATE)
        assert counts_of(recheck) == after != expected
        assert api_summary(c, "1.0")["scannedImage"]["totalVulnCount"] == after

        # A broken archive: announced as failed, the current database stays.
        broken = tmp_path / "broken.zip"
        with zipfile.ZipFile(broken, "w") as z:
            z.writestr("x.json", "{ not json")
        assert upload(c, broken).status_code == 202
        third = rx.wait_for(3, "/update", timeout=60)[-1].json["contents"]
        assert third["success"] is False
        assert third["db_version"] == 2
        status = c.get("/api/v0/imagescan/status").json()
        assert (status["db_version"], status["lastDBUpdateFailed"]) == (2, True)

        # A malformed layer: SCAN_FAILED with the inventory's error.
        bad = build_image(tmp_path / "bad", [gzip.compress(b"not a tar\n" * 100)], tag="bad")
        push(bad.ref("bad"), srv.host, "admin/app:bad", srv.admin_auth)
        [failed] = rx.wait_for(1, "/failed", timeout=120)
        assert failed.json["contents"]["tag"] == "bad"
        assert failed.json["contents"]["error"]
        assert api_summary(c, "bad")["scanStatus"] == 0
        assert len(rx.received("/scan")) == 2  # the failed scan fired no SCAN_COMPLETED


def test_a_leased_scan_job_completes_after_a_kill_and_restart(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    srv = server_factory(ENV)
    with Receiver() as rx:
        with srv.client(auth=srv.admin_auth) as c:
            assert c.post("/api/v0/repositories/admin", json={"name": "app"}).status_code == 201
            subscribe(c, "SCAN_COMPLETED", rx.url("/scan"), "admin/app")
            assert upload(c, osv.write_zip(tmp_path / "all.zip")).status_code == 202
        image = build_debian_image(tmp_path / "debian", "1.0")
        push(image.image.ref("1.0"), srv.host, "admin/app:1.0", srv.admin_auth)
        rx.wait_for(1, "/scan", timeout=120)
        srv.kill()

        # What a SIGKILL in the middle of the scan leaves: the job leased for minutes by the
        # killed scanner, the image shown as Scanning.
        holder = replica_id(srv.data_dir.resolve(), "worker")

        async def rewind(session: Any) -> int:
            await session.execute(
                update(ScanJob)
                .where(ScanJob.kind == "scan")
                .values(
                    status="pending",
                    lease_token="held-by-the-killed-process",
                    claimed_by=holder,
                    next_attempt_at=utcnow().replace(year=utcnow().year + 1),
                    attempts=1,
                )
            )
            await session.execute(update(ImageScan).values(status=2))
            return len((await session.scalars(select(ScanJob.id))).all())

        assert in_db(srv, rewind) >= 1
        srv.start()
        resumed = rx.wait_for(2, "/scan", timeout=120)[-1]
        assert counts_of(resumed) == osv.counts(osv.EXPECTED_DEBIAN)
        with srv.client(auth=srv.admin_auth) as c:
            assert api_summary(c, "1.0")["scanStatus"] == 6

        async def jobs(session: Any) -> list[str]:
            return list((await session.scalars(select(ScanJob.status))).all())

        assert "pending" not in in_db(srv, jobs)
