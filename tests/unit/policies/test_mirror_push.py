"""Push mirroring's transfer path in process with a fake remote: a blob already pushed to another
repository of the same remote is mounted instead of uploaded (and uploaded when the mount is
refused), and a job longer than its lease keeps it (renewed) while another worker finds nothing
to claim, or stops when its lease was taken over."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from dockyard.clock import utcnow
from dockyard.events import cursors
from dockyard.jobs.lease import LeaseLost, run_renewing
from dockyard.policies import mirror_runs
from dockyard.policies.mirror_models import MirrorJob
from dockyard.policies.mirror_transfer import BlobHomes
from dockyard.policies.mirror_worker import MirrorWorker
from tests.fakes.inprocess import InProcess, inprocess_app
from tests.unit.policies.test_mirroring import BASE, PUSH, FakeRemote, drain, events, image
from tests.unit.policies.test_promotion import push


@pytest.fixture(autouse=True)
def no_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mirroring consumer reads events at once (no PostgreSQL settle delay)."""
    monkeypatch.setattr(cursors, "SETTLE", timedelta(0))


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as running:
        r = await running.client.post("/api/v0/repositories/admin", json={"name": "app"})
        assert r.status_code == 201, r.text
        yield running


class RepoRemote(FakeRemote):
    """A fake remote that knows which repository holds which blob, and answers mounts."""

    def __init__(self, mountable: bool = True) -> None:
        super().__init__()
        self.held: dict[str, set[str]] = {}
        self.mounts: list[tuple[str, str, str]] = []
        self.uploads: list[tuple[str, str]] = []
        self.mountable = mountable

    async def blob_exists(self, repo: str, digest: str) -> bool:
        return digest in self.held.get(repo, set())

    async def mount(self, repo: str, digest: str, from_repo: str) -> bool:
        self.mounts.append((repo, digest, from_repo))
        if self.mountable and digest in self.held.get(from_repo, set()):
            self.held.setdefault(repo, set()).add(digest)
            return True
        return False

    async def push_blob(self, repo: str, digest: str, size: int, chunks: Any) -> None:
        await super().push_blob(repo, digest, size, chunks)
        self.uploads.append((repo, digest))
        self.held.setdefault(repo, set()).add(digest)


def use(monkeypatch: pytest.MonkeyPatch, remote: FakeRemote) -> None:
    monkeypatch.setattr(mirror_runs.Remote, "open", lambda self, vault, blocked: remote)


async def two_targets(app: InProcess) -> None:
    for target in ("mirror/app", "dr/app"):
        r = await app.client.post(
            f"{BASE}/pushMirroringPolicies", json=dict(PUSH, remoteRepository=target)
        )
        assert r.status_code == 201, r.text


@pytest.mark.parametrize("mountable", [True, False])
async def test_a_blob_on_another_repository_of_the_remote_is_mounted(
    app: InProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mountable: bool
) -> None:
    remote = RepoRemote(mountable)
    use(monkeypatch, remote)
    await two_targets(app)
    img = image(tmp_path, "one")
    doc = json.loads(img.manifest_bytes)
    blobs = {doc["config"]["digest"], doc["layers"][0]["digest"]}
    await push(app, "admin/app", "v1", img)
    await drain(MirrorWorker(app.services))

    assert len(await events(app, "PUSH_MIRRORING")) == 2
    assert remote.held["mirror/app"] >= blobs and remote.held["dr/app"] >= blobs
    first = remote.uploads[0][0]
    second = "dr/app" if first == "mirror/app" else "mirror/app"
    assert sorted(d for _, d, _ in remote.mounts) == sorted(blobs)
    assert {(r, f) for r, _, f in remote.mounts} == {(second, first)}
    if mountable:
        assert {r for r, _ in remote.uploads} == {first}
        assert sorted(d for _, d in remote.uploads) == sorted(blobs)  # each uploaded once
    else:
        assert sorted(remote.uploads) == sorted((r, d) for r in (first, second) for d in blobs)


def test_blob_homes_forget_the_oldest() -> None:
    homes = BlobHomes(limit=2)
    homes.saw("h:443", "sha256:a", "one")
    homes.saw("h:443", "sha256:b", "one")
    homes.saw("h:443", "sha256:a", "two")  # seen again: now the newest
    homes.saw("h:443", "sha256:c", "one")
    assert homes.where("h:443", "sha256:a") == "two"
    assert homes.where("h:443", "sha256:b") is None
    assert homes.where("other:443", "sha256:c") is None


class BlockingRemote(FakeRemote):
    """Holds the manifest PUT until released: a transfer as long as the test wants."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = False

    async def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> str:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return await super().put_manifest(repo, ref, body, media_type)


async def job_row(app: InProcess) -> MirrorJob:
    async with app.services.session() as session:
        job = await session.scalar(select(MirrorJob))
        assert job is not None
        session.expunge(job)
        return job


async def start_long_push(
    app: InProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lease: float
) -> tuple[BlockingRemote, MirrorWorker, asyncio.Task[int]]:
    remote = BlockingRemote()
    use(monkeypatch, remote)
    r = await app.client.post(f"{BASE}/pushMirroringPolicies", json=PUSH)
    assert r.status_code == 201
    await push(app, "admin/app", "v1", image(tmp_path, "one"))
    worker = MirrorWorker(app.services)
    worker.lease_seconds = lease
    task = asyncio.create_task(worker.step())
    async with asyncio.timeout(60):
        await remote.started.wait()
    return remote, worker, task


async def test_a_push_longer_than_its_lease_keeps_it(
    app: InProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lease = 2.0
    remote, _worker, task = await start_long_push(app, monkeypatch, tmp_path, lease)
    first_due = (await job_row(app)).next_attempt_at
    other = MirrorWorker(app.services)
    other.lease_seconds = lease
    # Past three lease lengths after the claim's due time: without renewal `other` would
    # have claimed the job long ago.
    end = first_due + timedelta(seconds=3 * lease)
    while utcnow().replace(tzinfo=None) < end.replace(tzinfo=None):
        assert await other._claim() == []
        await asyncio.sleep(0.2)
    assert (await job_row(app)).next_attempt_at > first_due  # renewed
    remote.release.set()
    async with asyncio.timeout(60):
        await task
    job = await job_row(app)
    assert job.status == "done" and job.lease_token is None
    assert len(await events(app, "PUSH_MIRRORING")) == 1


async def test_a_push_whose_lease_was_taken_over_stops(
    app: InProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    remote, _worker, task = await start_long_push(app, monkeypatch, tmp_path, 1.0)
    async with app.services.session() as session:  # another worker claimed it meanwhile
        await session.execute(update(MirrorJob).values(lease_token="someone-else"))
        await session.commit()
    async with asyncio.timeout(60):
        await task
    assert remote.cancelled and "v1" not in remote.manifests
    job = await job_row(app)
    assert job.status == "pending" and job.lease_token == "someone-else"
    assert await events(app, "PUSH_MIRRORING") == []


async def test_run_renewing_returns_the_result_and_stops_on_a_lost_lease() -> None:
    renewals: list[int] = []

    async def renew_ok() -> bool:
        renewals.append(1)
        return True

    async def slow() -> str:
        await asyncio.sleep(0.3)
        return "done"

    assert await run_renewing(slow(), renew_ok, 0.01) == "done"
    assert renewals
    stopped = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    async def lost() -> bool:
        return False

    with pytest.raises(LeaseLost):
        await run_renewing(forever(), lost, 0.01)
    assert stopped.is_set()
