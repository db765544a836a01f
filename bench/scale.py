"""Costs as the registry grows: each request of issue 16's table at 100, 1,000, 10,000 (and, with
`--max 100000`, 100,000) repositories, tags in one repository and subscriptions on one.

Not a test: it prints a table by N (median and p95 in ms of sequential requests over HTTP) and
the RSS of each server process. Run from the repository:

    .venv/bin/python bench/scale.py                  # N = 100, 1,000, 10,000
    .venv/bin/python bench/scale.py --max 100000     # and 100,000 (several minutes to populate)
    .venv/bin/python bench/scale.py --sizes 100,100000  # only these two
    .venv/bin/python bench/scale.py --sizes 100000 --folder DIR  # keep (or reuse) the data
    .venv/bin/python bench/scale.py --src DIR        # the server of another checkout (before/after)

The server is the real `dockyard serve`, started by the bench with its default settings (SQLite
in its data folder, one HTTP worker and the delivery process). The registry is populated fast,
in this process, while the server runs, and NOT through HTTP:

- repositories through the service layer (`repos.service.create_repository`, which records
  their REPO_CREATED events as the API does), each with one tag and manifest row inserted in
  bulk (the rows a push writes, without blobs: only the bench's one real image is pulled);
- the tags of one repository and the subscriptions on another inserted in bulk as rows (the
  rows a push and `webhooks.service.create_subscription` write, without their events: nothing
  subscribes to those);
- one real image pushed over /v2 (its manifest is GET and PUT, its tags listed).

A user `viewer` can read 4 repositories (2 in their own namespace, 2 public) whatever N is.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def _source() -> Path:
    """`--src DIR`, read before dockyard is imported: the bench populates with that checkout's
    code and its server runs it (PYTHONPATH: `dockyard serve` does not look in the working
    directory)."""
    if "--src" in sys.argv[:-1]:
        return Path(sys.argv[sys.argv.index("--src") + 1]).resolve()
    return REPO


SRC = _source()
sys.path.insert(0, str(SRC))

from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402

from dockyard.accounts.models import Account  # noqa: E402
from dockyard.accounts.service import accounts  # noqa: E402
from dockyard.db.engine import create_engine, create_sessionmaker  # noqa: E402
from dockyard.repos import service as repos  # noqa: E402
from dockyard.repos.models import Manifest, Repository, Tag  # noqa: E402
from dockyard.webhooks.models import Subscription  # noqa: E402
from dockyard.webhooks.signing import generate_secret  # noqa: E402
from tests.fakes.server import RunningServer, make_server  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
VIEWER = ("viewer", "viewer-password-1")
ORG = "bench"
CHUNK = 1000


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- population (in process, through the service layer or in bulk) ----------------------------


class Population:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.sessions = create_sessionmaker(self.engine)
        self.repos = 0
        self.tags = 0
        self.subs = 0

    async def setup(self) -> None:
        async with self.sessions() as session:
            if await session.scalar(select(Account.id).where(Account.name == ORG)):
                await self._resume(session)
                return
            org = await accounts.create_org(session, ORG)
            viewer = await accounts.create_user(session, *VIEWER)
            for name in ("own-a", "own-b"):
                await repos.create_repository(session, viewer, name, "viewer")
            for name in ("public-a", "public-b"):
                await repos.create_repository(session, org, name, "admin", visibility="public")
            for name in ("tagged", "hooked"):
                await repos.create_repository(session, org, name, "admin")
            await session.commit()

    async def _resume(self, session: AsyncSession) -> None:
        """A folder populated by an earlier run (`--folder`): go on from what it holds."""
        mine = Repository.namespace == ORG
        named = Repository.name.like("r%")
        self.repos = int(await session.scalar(select(func.count()).where(mine, named)) or 0)
        hooked = f"{ORG}/hooked"
        count = select(func.count()).where(Subscription.key == hooked)
        self.subs = int(await session.scalar(count) or 0)

    async def _ids(self) -> tuple[Account, Repository, Repository, str]:
        async with self.sessions() as session:
            org = await session.scalar(select(Account).where(Account.name == ORG))
            tagged = await repos.get_repository(session, ORG, "tagged")
            hooked = await repos.get_repository(session, ORG, "hooked")
            admin = await session.scalar(select(Account.id).where(Account.name == "admin"))
            assert org and tagged and hooked and admin
            return org, tagged, hooked, admin

    async def grow(self, n: int) -> float:
        """Up to n repositories (besides the bench's own), n tags on bench/tagged and n
        subscriptions on bench/hooked; returns the seconds it took."""
        began = time.monotonic()
        org, tagged, hooked, admin = await self._ids()
        while self.repos < n:
            upto = min(n, self.repos + CHUNK)
            await self._repositories(org, self.repos, upto)
            self.repos = upto
        await self._tags(tagged, n)
        await self._subscriptions(hooked.full_name, admin, n)
        return time.monotonic() - began

    async def _repositories(self, org: Account, start: int, end: int) -> None:
        async with self.sessions() as session:
            org = await session.merge(org)
            made = [
                await repos.create_repository(session, org, f"r{i:06d}", "admin")
                for i in range(start, end)
            ]
            manifests, tags = [], []
            for repo in made:
                digest = _digest(repo.id.encode())
                manifests.append(
                    {
                        "repository_id": repo.id,
                        "digest": digest,
                        "media_type": OCI_MANIFEST,
                        "size": 500,
                        "image_size": 1000,
                    }
                )
                tags.append({"repository_id": repo.id, "name": "latest", "digest": digest})
            await session.execute(insert(Manifest), manifests)
            await session.execute(insert(Tag), tags)
            await session.commit()

    async def _tags(self, repo: Repository, n: int) -> None:
        async with self.sessions() as session:
            digest = await session.scalar(
                select(Tag.digest).where(Tag.repository_id == repo.id, Tag.name == "latest")
            )
            have = await session.scalar(select(func.count()).where(Tag.repository_id == repo.id))
            rows = [
                {"repository_id": repo.id, "name": f"t{i:06d}", "digest": digest}
                for i in range(int(have or 0), n)
            ]
            for i in range(0, len(rows), CHUNK):
                await session.execute(insert(Tag), rows[i : i + CHUNK])
            await session.commit()

    async def _subscriptions(self, key: str, author: str, n: int) -> None:
        async with self.sessions() as session:
            rows = [
                {
                    "type": "TAG_PUSH",
                    "event_type": "TAG_PUSH",
                    "key": key,
                    "endpoint": f"https://hooks.example.com/{i}",
                    "author_id": author,
                    "secret": generate_secret(),
                }
                for i in range(self.subs, n)
            ]
            for i in range(0, len(rows), CHUNK):
                await session.execute(insert(Subscription), rows[i : i + CHUNK])
            await session.commit()
        self.subs = n


# --- HTTP ---------------------------------------------------------------------------------------


def push_image(admin: httpx.Client, repo: str) -> bytes:
    """One small image over /v2 (monolithic blob uploads); returns its manifest."""
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer = os.urandom(1024)
    for blob in (config, layer):
        start = admin.post(f"/v2/{repo}/blobs/uploads/")
        start.raise_for_status()
        done = admin.put(
            start.headers["Location"],
            params={"digest": _digest(blob)},
            content=blob,
            headers={"Content-Type": "application/octet-stream"},
        )
        done.raise_for_status()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _digest(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    put = admin.put(
        f"/v2/{repo}/manifests/latest", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    put.raise_for_status()
    return manifest


def signed_in(srv: RunningServer) -> httpx.Client:
    import re

    client = httpx.Client(base_url=srv.url, timeout=60)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert csrf is not None
    answer = client.post(
        "/login",
        data={"username": "admin", "password": srv.admin_password, "csrf_token": csrf.group(1)},
    )
    assert answer.status_code == 303, answer.text
    return client


def timed(call: Callable[[], httpx.Response], rounds: int) -> tuple[float, float]:
    for _ in range(3):
        call().raise_for_status()
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        answer = call()
        times.append((time.perf_counter() - began) * 1000)
        if answer.is_error:  # reported in the table; the other cells are still measured
            print(f"  ! {answer.request.url}: {answer.status_code}", flush=True)
            return float("nan"), float("nan")
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def rss_mb(srv: RunningServer) -> dict[str, float]:
    """RSS of each process of the server's group, named by role."""
    assert srv.proc is not None
    out: dict[str, float] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) != srv.proc.pid:  # process group
                continue
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            status = Path(f"/proc/{pid}/status").read_text()
        except (OSError, IndexError):
            continue
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        role = (
            "delivery"
            if " worker" in cmd
            else ("supervisor" if pid == str(srv.proc.pid) else "http")
        )
        name = role
        while name in out:
            name += "+"
        out[name] = kb / 1024
    return out


def requests(
    srv: RunningServer,
    admin: httpx.Client,
    viewer: httpx.Client,
    ui: httpx.Client,
    n: int,
    manifest: bytes,
) -> dict[str, Callable[[], httpx.Response]]:
    mid = f"{ORG}/r{n // 2:06d}"
    deep_tag = f"t{n // 2:06d}"
    puts = iter(range(10**9))
    return {
        "/v2/_catalog?n=100 (viewer, sees 4)": lambda: viewer.get("/v2/_catalog?n=100"),
        "/v2/_catalog?n=100 (admin)": lambda: admin.get("/v2/_catalog?n=100"),
        "API repositories pageSize=10 (admin)": lambda: admin.get(
            "/api/v0/repositories?pageSize=10"
        ),
        "API repositories deep page (admin)": lambda: admin.get(
            "/api/v0/repositories", params={"pageSize": 10, "pageStart": mid}
        ),
        "API repositories pageSize=10 (viewer)": lambda: viewer.get(
            "/api/v0/repositories?pageSize=10"
        ),
        "UI repositories list (admin)": lambda: ui.get("/repositories"),
        "UI repositories search, 1 match (admin)": lambda: ui.get(
            "/repositories", params={"q": mid}
        ),
        "API tags pageSize=10": lambda: admin.get(
            f"/api/v0/repositories/{ORG}/tagged/tags?pageSize=10"
        ),
        "API tags deep page": lambda: admin.get(
            f"/api/v0/repositories/{ORG}/tagged/tags",
            params={"pageSize": 10, "pageStart": deep_tag},
        ),
        "UI Tags tab": lambda: ui.get(f"/repositories/{ORG}/tagged/tags"),
        # One page: without pageSize the subscription lists answer every subscription (as MSR).
        "API webhooks (admin), pageSize=100": lambda: admin.get(
            "/api/v0/webhooks", params={"pageSize": 100}
        ),
        "API repository webhooks, pageSize=100": lambda: admin.get(
            f"/api/v0/repositories/{ORG}/hooked/webhooks", params={"pageSize": 100}
        ),
        "UI Webhooks tab": lambda: ui.get(f"/repositories/{ORG}/hooked/webhooks"),
        "manifest GET": lambda: admin.get(
            f"/v2/{ORG}/tagged/manifests/latest", headers={"Accept": OCI_MANIFEST}
        ),
        "manifest PUT": lambda: admin.put(
            f"/v2/{ORG}/tagged/manifests/put{next(puts)}",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        ),
        "/v2 tags list deep page": lambda: admin.get(
            f"/v2/{ORG}/tagged/tags/list", params={"n": 100, "last": deep_tag}
        ),
        "a 1-tag repository's tags (API)": lambda: admin.get(f"/api/v0/repositories/{mid}/tags"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max", type=int, default=10_000, help="largest N (100,000 is allowed)")
    parser.add_argument("--rounds", type=int, default=30, help="timed requests per cell")
    parser.add_argument("--sizes", default="", help="only these N, e.g. 100,100000")
    parser.add_argument(
        "--folder", type=Path, default=None, help="keep the data here; reuse what it holds"
    )
    parser.add_argument("--src", type=Path, default=None, help="run the server of this source")
    args = parser.parse_args()
    sizes = [n for n in (100, 1_000, 10_000, 100_000) if n <= args.max]
    if args.sizes:
        sizes = sorted(int(n) for n in args.sizes.split(","))

    folder = args.folder or Path(tempfile.mkdtemp(prefix="dockyard-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{folder / 'data' / 'dockyard.db'}"
    env = {"DOCKYARD_LOG_LEVEL": "WARNING"}
    if SRC != REPO:
        env["PYTHONPATH"] = str(SRC)
    srv = make_server(folder, url, env)
    srv.start(timeout=300)  # a loaded machine starts it slowly
    print(f"server log: {srv.log_path}", flush=True)
    population = Population(url)
    results: dict[int, dict[str, tuple[float, float]]] = {}
    memory: dict[int, dict[str, float]] = {}
    try:
        asyncio.run(population.setup())
        admin = srv.client(auth=srv.admin_auth)
        viewer = srv.client(auth=VIEWER)
        tagged = f"/v2/{ORG}/tagged/manifests/latest"
        fetched = admin.get(tagged, headers={"Accept": OCI_MANIFEST})
        manifest = fetched.content if fetched.is_success else push_image(admin, f"{ORG}/tagged")
        ui = signed_in(srv)
        for n in sizes:
            took = asyncio.run(population.grow(n))
            print(f"N={n}: populated in {took:.0f} s", flush=True)
            calls = requests(srv, admin, viewer, ui, n, manifest)
            results[n] = {name: timed(call, args.rounds) for name, call in calls.items()}
            memory[n] = rss_mb(srv)
            for name, (med, p95) in results[n].items():
                print(f"  {name:45} {med:8.1f} {p95:8.1f}", flush=True)
            print(f"  RSS MB: {memory[n]}", flush=True)
    finally:
        srv.stop()
        asyncio.run(population.engine.dispose())
    report(sizes, results, memory)


def report(
    sizes: list[int],
    results: dict[int, dict[str, tuple[float, float]]],
    memory: dict[int, dict[str, float]],
) -> None:
    print(
        "\nmedian / p95 ms, sequential requests; N repositories, N tags in one, N subscriptions "
        "on one"
    )
    print("| request | " + " | ".join(f"{n:,}" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for name in results[sizes[0]]:
        cells = [f"{results[n][name][0]:.1f} / {results[n][name][1]:.1f}" for n in sizes]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for role in memory[sizes[0]]:
        cells = [f"{memory[n].get(role, 0):.0f}" for n in sizes]
        print(f"| RSS MB, {role} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
