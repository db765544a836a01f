"""The UI Tags tab reads a page from a fixed number of statements: its tags with their
manifests, then the scan summaries of the whole page (an index's platforms summed) in two more,
whether the repository holds 3 tags or 120. The summaries shown are the tag's scans."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from dockyard.repos.models import Manifest, ManifestReference, Repository, Tag
from dockyard.scanning.models import ImageScan
from dockyard.services import Services
from tests.fakes.inprocess import ADMIN, InProcess, inprocess_app

INDEX = "sha256:" + "a" * 64
AMD64 = "sha256:" + "b" * 64
ARM64 = "sha256:" + "c" * 64
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _populate(services: Services, name: str, tags: int) -> None:
    """A repository whose tags all name one index of two images, each tag scanned on both
    platforms (critical 1 on amd64, 2 on arm64: the tab shows their sum, 3)."""
    async with services.session() as session:
        repo = await session.scalar(select(Repository).where(Repository.name == name))
        assert repo is not None
        index_type = "application/vnd.oci.image.index.v1+json"
        index = Manifest(repository_id=repo.id, digest=INDEX, media_type=index_type, size=300)
        session.add(index)
        for digest, arch in ((AMD64, "amd64"), (ARM64, "arm64")):
            session.add(
                Manifest(
                    repository_id=repo.id, digest=digest, size=500, config_digest="sha256:cfg",
                    media_type="application/vnd.oci.image.manifest.v1+json", architecture=arch,
                    os="linux",
                )
            )  # fmt: skip
        await session.flush()
        for digest in (AMD64, ARM64):
            session.add(ManifestReference(manifest_id=index.id, digest=digest, kind="manifest"))
        names = [f"t{i:03d}" for i in range(tags)]
        await session.execute(
            insert(Tag), [{"repository_id": repo.id, "name": n, "digest": INDEX} for n in names]
        )
        scans = [
            {
                "repository_id": repo.id,
                "namespace": "admin",
                "repository": name,
                "tag": n,
                "manifest_digest": digest,
                "status": 6,
                "critical": critical,
            }
            for n in names
            for digest, critical in ((AMD64, 1), (ARM64, 2))
        ]
        await session.execute(insert(ImageScan), scans)
        await session.commit()


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as running:
        for name, tags in (("few", 3), ("many", 120)):
            r = await running.client.post("/api/v0/repositories/admin", json={"name": name})
            assert r.status_code == 201, r.text
            await _populate(running.services, name, tags)
        token = CSRF.search((await running.client.get("/login")).text)
        assert token is not None
        body = {"username": ADMIN[0], "password": ADMIN[1], "csrf_token": token.group(1)}
        r = await running.client.post("/login", data=body)
        assert r.status_code == 303, r.text
        yield running


async def _statements(app: InProcess, path: str) -> tuple[str, list[str]]:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = app.services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        r = await app.client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert r.status_code == 200, r.text
    return r.text, statements


async def test_a_page_costs_the_same_statements_for_3_tags_or_120(app: InProcess) -> None:
    few_page, few = await _statements(app, "/repositories/admin/few/tags")
    many_page, many = await _statements(app, "/repositories/admin/many/tags")
    assert few_page.count('class="sev critical"') == 3
    assert many_page.count('class="sev critical"') == 50  # one page of 120
    assert len(many) == len(few), (few, many)
    scan_reads = [s for s in many if "FROM image_scans" in s]
    assert len(scan_reads) == 1, scan_reads
    # A deep page adds only the reads of where it starts and of the page before.
    _page, deep = await _statements(app, "/repositories/admin/many/tags?start=t040")
    assert len(deep) <= len(many) + 2


async def test_an_index_shows_the_sum_of_its_platforms(app: InProcess) -> None:
    page, _ = await _statements(app, "/repositories/admin/few/tags")
    counts = re.findall(r'class="sev critical" title="critical">(\d+)<', page)
    assert counts == ["3", "3", "3"]
