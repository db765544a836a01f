"""Push and pull of one large layer on S3 (the local moto server) against the filesystem driver,
with the peak RSS of the server's process tree; and what the S3 digest read-back costs.

Not a test. Run from the repository:

    .venv/bin/python bench/s3.py                  # 512 MiB layer, 1 round per driver
    .venv/bin/python bench/s3.py --mib 128 --rounds 2
    .venv/bin/python bench/s3.py --digest-only    # the commit with and without read-back

Both servers run `dockyard serve` with one HTTP worker on SQLite; skopeo pushes and pulls an
OCI layout whose one layer is random bytes (gzip, stored blocks). RSS is sampled every 50 ms
over every process of the server's group (supervisor, HTTP worker, delivery child); moto's own
RSS is printed apart (it keeps every object in memory, which a real object store does not).
moto is the bottleneck of the S3 figures: they bound the driver's overhead, not S3's speed.

The digest section uploads through the driver directly (8 MiB chunks): once on one store (its
hasher saw every byte: the digest is checked before the multipart upload is completed), once
alternating between two stores as two replicas would (neither saw every byte: the upload is
completed and read back once), and prints the time of the commit alone. Then 200 monolithic
uploads of 4 KiB (start, append, commit, cancel, as the registry does) on each driver.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.registry import build_layout, skopeo  # noqa: E402
from dockyard.storage.base import BlobStore  # noqa: E402
from tests.fakes.databases import create_database  # noqa: E402
from tests.fakes.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server, start_s3  # noqa: E402
from tests.fakes.server import RunningServer, make_server  # noqa: E402

MIB = 1024 * 1024


class PeakRss:
    """Peak of the summed RSS of a process group, sampled from a thread."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> float:
        total = 0
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(proc.pid) == self.pgid:
                    total += proc.memory_info().rss
            except (psutil.Error, ProcessLookupError):
                continue
        return total / MIB

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def start_server(work: Path, name: str, env: dict[str, str]) -> RunningServer:
    folder = work / name
    folder.mkdir()
    srv = make_server(folder, create_database(folder), env)
    srv.start()
    return srv


def push_pull(srv: RunningServer, layout: Path, image: str, work: Path) -> dict[str, float]:
    assert srv.proc is not None
    creds = f"{srv.admin_auth[0]}:{srv.admin_auth[1]}"
    idle = PeakRss(srv.proc.pid).sample()
    with PeakRss(srv.proc.pid) as push_rss:
        push_s = skopeo(
            "copy", "--dest-tls-verify=false", "--dest-creds", creds,
            f"oci:{layout}:latest", f"docker://{srv.host}/{image}",
        )  # fmt: skip
    dest = work / f"pull-{image.replace('/', '_').replace(':', '_')}"
    with PeakRss(srv.proc.pid) as pull_rss:
        pull_s = skopeo(
            "copy", "--src-tls-verify=false", "--src-creds", creds,
            f"docker://{srv.host}/{image}", f"oci:{dest}:latest",
        )  # fmt: skip
    shutil.rmtree(dest, ignore_errors=True)
    return {
        "push_s": push_s,
        "pull_s": pull_s,
        "idle_rss": idle,
        "push_rss": push_rss.peak,
        "pull_rss": pull_rss.peak,
    }


def run_servers(args: argparse.Namespace, work: Path, s3: S3Server) -> None:
    layout = build_layout(work / "layout", [args.mib * MIB])
    servers = {
        "filesystem": start_server(work, "fs", {}),
        "s3": start_server(work, "s3", s3.settings_env(s3.new_bucket())),
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    moto = psutil.Process(s3.proc.pid) if s3.proc else None
    moto_peak = 0.0
    try:
        for round_no in range(args.rounds):
            for name, srv in servers.items():
                with PeakRss(moto.pid if moto else 0) as moto_rss:
                    row = push_pull(srv, layout, f"admin/bench:r{round_no}", work)
                moto_peak = max(moto_peak, moto_rss.peak)
                results[name].append(row)
                print(f"  round {round_no} {name}: {row}", flush=True)
    finally:
        for srv in servers.values():
            srv.stop()
    print(f"\n{args.mib} MiB layer, skopeo push then pull, {args.rounds} round(s), medians:")
    for name, rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(
            f"  {name:10s} push {med['push_s']:6.1f} s ({args.mib / med['push_s']:6.1f} MiB/s)"
            f"  pull {med['pull_s']:6.1f} s ({args.mib / med['pull_s']:6.1f} MiB/s)"
            f"  RSS idle {med['idle_rss']:5.0f} MiB, peak push {med['push_rss']:5.0f},"
            f" pull {med['pull_rss']:5.0f} MiB"
        )
    print(f"  moto (the S3 server, apart): peak RSS {moto_peak:.0f} MiB")


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 256 * 1024):
        yield data[start : start + 256 * 1024]


async def digest_pass(s3: S3Server, work: Path, mib: int) -> None:
    from dockyard.db.base import Base
    from dockyard.db.engine import create_engine, create_sessionmaker
    from dockyard.storage.s3 import S3BlobStore
    from dockyard.storage.s3_client import S3Config
    from dockyard.storage.s3_models import S3Upload

    engine = create_engine(create_database(work))
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: Base.metadata.create_all(sync, [S3Upload.__table__]))
    config = S3Config(
        bucket=s3.new_bucket(), endpoint=s3.endpoint, region=REGION,
        access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY,
    )  # fmt: skip
    a = S3BlobStore(config, create_sessionmaker(engine))
    b = S3BlobStore(config, create_sessionmaker(engine))
    print(f"\nS3 commit of a {mib} MiB upload sent in 8 MiB chunks:")
    for label, stores in (("one replica (hasher kept)", [a]), ("two replicas (read-back)", [a, b])):
        data = os.urandom(mib * MIB)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        upload_id = f"bench-{len(stores)}"
        await a.upload_start(upload_id)
        offset = 0
        for number, start in enumerate(range(0, len(data), 8 * MIB)):
            store = stores[number % len(stores)]
            offset = await store.upload_append(
                upload_id, _chunks(data[start : start + 8 * MIB]), offset
            )
        started = time.perf_counter()
        await stores[-1].upload_commit(upload_id, digest)
        print(f"  {label:28s} commit {time.perf_counter() - started:6.2f} s")
        await a.delete(digest)
    print("Monolithic uploads of 200 blobs of 4 KiB, one after the other (the driver alone):")
    from dockyard.storage.filesystem import FilesystemBlobStore

    await small_uploads("filesystem", FilesystemBlobStore(work / "fs-storage"), 200)
    await small_uploads("S3", a, 200)
    await a.close()
    await b.close()
    await engine.dispose()


async def small_uploads(name: str, store: BlobStore, count: int) -> None:
    """What a push of small blobs (configs, small layers) costs: the registry's monolithic
    upload (start, append, commit, cancel) of `count` 4 KiB blobs, one after the other."""
    started = time.perf_counter()
    for n in range(count):
        data = os.urandom(4096)
        upload_id = f"small-{n}"
        await store.upload_start(upload_id)
        await store.upload_append(upload_id, _chunks(data))
        await store.upload_commit(upload_id, "sha256:" + hashlib.sha256(data).hexdigest())
        await store.upload_cancel(upload_id)
    elapsed = time.perf_counter() - started
    print(f"  {name:12s} {count / elapsed:7.1f} blobs/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--digest-only", action="store_true")
    parser.add_argument("--digest-mib", type=int, default=256)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        s3 = start_s3(work)
        try:
            if not args.digest_only:
                run_servers(args, work, s3)
            asyncio.run(digest_pass(s3, work, args.digest_mib))
        finally:
            s3.stop()


if __name__ == "__main__":
    main()
