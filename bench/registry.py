"""Benchmark dockyard against Debian's docker-registry (CNCF Distribution 2.8), as users see it.

Not a test: it prints medians, spread and dockyard/docker-registry ratios. Run from the repository:

    .venv/bin/python bench/registry.py                 # 200 MiB layer, 200 x 100 KiB, 3 rounds
    .venv/bin/python bench/registry.py --quick         # 64 MiB, 50 x 100 KiB, 3 s of wrk
    .venv/bin/python bench/registry.py --tuned 4       # adds a column: dockyard with 4 workers
    .venv/bin/python bench/registry.py --baseline DIR  # adds a column: the source in DIR

Same machine, same run, same clients: skopeo pushes and pulls one large layer and many small
ones; wrk (2 threads, 32 connections, a registry bearer token as clients send) GETs the manifest
of a 3-layer image and of a 200-layer one. Rounds are interleaved (dockyard, peer, then peer,
dockyard, ...) so that a load elsewhere on the machine falls on both. dockyard runs with its
defaults (`make run`: no flags) unless --workers is given; `--src DIR` runs the dockyard source
in DIR (a checkout of another commit) for before/after figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
BLOB_INFO_CACHE = Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb")
ADMIN_PASSWORD = "bench-admin-password"
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


# -- image layouts -----------------------------------------------------------------------------


def _write_layer(blobs: Path, size: int) -> tuple[str, int, str]:
    """A gzip (stored blocks: cheap to make, skopeo does not recompress it) of random bytes."""
    tmp = blobs / "tmp-layer"
    raw_hash = hashlib.sha256()
    with gzip.GzipFile(tmp, "wb", compresslevel=0, mtime=0) as gz:
        remaining = size
        while remaining > 0:
            chunk = os.urandom(min(remaining, 4 << 20))
            raw_hash.update(chunk)
            gz.write(chunk)
            remaining -= len(chunk)
    digest = sha256_file(tmp)
    tmp.rename(blobs / digest.split(":")[1])
    return (
        digest,
        tmp.parent.joinpath(digest.split(":")[1]).stat().st_size,
        ("sha256:" + raw_hash.hexdigest()),
    )


def build_layout(path: Path, layer_sizes: list[int]) -> Path:
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    layers = [_write_layer(blobs, size) for size in layer_sizes]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff for _d, _s, diff in layers]},
            "config": {},
        }
    ).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    (blobs / config_digest.split(":")[1]).write_bytes(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER_GZIP, "digest": d, "size": s} for d, s, _diff in layers
            ],
        }
    ).encode()
    manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    (blobs / manifest_digest.split(":")[1]).write_bytes(manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest,
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    (path / "index.json").write_text(json.dumps(index))
    return path


# -- servers -----------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    auth: tuple[str, str] | None
    rss_peak_kb: int = 0
    # Proportional set size: shared library pages divided among the processes that map them,
    # so the tree's sum is what the machine actually spends (summed RSS counts libpython,
    # OpenSSL, etc. once per process).
    pss_peak_kb: int = 0
    rss_by_process_kb: dict[str, int] = field(default_factory=dict)
    _sampling: bool = False
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def creds_args(self, flag: str) -> list[str]:
        return [flag, f"{self.auth[0]}:{self.auth[1]}"] if self.auth else []

    def auth_header(self) -> dict[str, str]:
        if not self.auth:
            return {}
        token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def tree_rss_kb(self) -> tuple[int, int]:
        """RSS of the server process and all its descendants (worker processes); the peak of
        each process (by pid and command) is kept in `rss_by_process_kb`. Returns (RSS, PSS)."""
        pids = [self.proc.pid]
        total = 0
        pss_total = 0
        seen: set[int] = set()
        while pids:
            pid = pids.pop()
            if pid in seen:
                continue
            seen.add(pid)
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                match = re.search(r"VmRSS:\s+(\d+)", status)
                rss = int(match.group(1)) if match else 0
                total += rss
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
                pss = re.search(r"^Pss:\s+(\d+)", rollup, re.M)
                pss_total += int(pss.group(1)) if pss else 0
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                label = f"{pid} {cmd.strip()[-40:]}"
                self.rss_by_process_kb[label] = max(self.rss_by_process_kb.get(label, 0), rss)
                # Children of every thread: the webhook delivery child is started by a
                # supervisor thread, so the main thread's list alone would miss it.
                for task in Path(f"/proc/{pid}/task").iterdir():
                    with contextlib.suppress(FileNotFoundError):
                        pids.extend(int(c) for c in (task / "children").read_text().split())
            except (FileNotFoundError, ProcessLookupError):
                continue
        return total, pss_total

    def start_sampling(self) -> None:
        self.rss_peak_kb = 0
        self.pss_peak_kb = 0
        self.rss_by_process_kb = {}
        self._sampling = True

        def loop() -> None:
            while self._sampling:
                rss, pss = self.tree_rss_kb()
                self.rss_peak_kb = max(self.rss_peak_kb, rss)
                self.pss_peak_kb = max(self.pss_peak_kb, pss)
                time.sleep(0.05)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop_sampling(self) -> int:
        self._sampling = False
        if self._thread:
            self._thread.join()
        return self.rss_peak_kb

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def wait_ready(url: str, headers: dict[str, str], proc: subprocess.Popen[bytes]) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 300  # a loaded machine starts Python slowly
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early ({url})")
        try:
            req = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(req, timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not start")


def start_dockyard(work: Path, name: str, workers: int | None, src: Path | None) -> Server:
    """dockyard with its defaults; `workers` None leaves the worker count to dockyard."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env.update(
        {
            "DOCKYARD_DATA_DIR": str(work / f"{name}-data"),
            "DOCKYARD_PORT": str(port),
            "DOCKYARD_HOST": "127.0.0.1",
            "DOCKYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "DOCKYARD_LOG_LEVEL": "WARNING",
        }
    )
    if src is not None:
        # PYTHONPATH reaches the exec'd server too (`python -P` drops only the working folder).
        env["PYTHONPATH"] = str(src)
    flags = ["--workers", str(workers)] if workers else []
    log = (work / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "serve", *flags],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=src or REPO,
    )
    server = Server(name, port, proc, ("admin", ADMIN_PASSWORD))
    try:
        wait_ready(f"http://{server.host}/v2/", server.auth_header(), proc)
    except BaseException:
        server.stop()  # its whole process group: no server left behind
        raise
    return server


def start_distribution(work: Path) -> Server:
    port = free_port()
    root = work / "distribution-data"
    root.mkdir()
    config = work / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (work / "distribution.log").open("wb")
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server("docker-registry", port, proc, None)
    try:
        wait_ready(f"http://{server.host}/v2/", {}, proc)
    except BaseException:
        server.stop()
        raise
    return server


# -- measurements ------------------------------------------------------------------------------


def skopeo(*args: str) -> float:
    BLOB_INFO_CACHE.unlink(missing_ok=True)
    started = time.perf_counter()
    result = subprocess.run(
        ["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=1800
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"skopeo {' '.join(args)} failed:\n{result.stderr}")
    return elapsed


def push(server: Server, layout: Path, image: str) -> float:
    return skopeo(
        "copy",
        "--dest-tls-verify=false",
        *server.creds_args("--dest-creds"),
        f"oci:{layout}:latest",
        f"docker://{server.host}/{image}",
    )


def pull(server: Server, image: str, work: Path) -> float:
    dest = work / f"pull-{server.name}-{image.replace('/', '_').replace(':', '_')}"
    shutil.rmtree(dest, ignore_errors=True)
    elapsed = skopeo(
        "copy",
        "--src-tls-verify=false",
        *server.creds_args("--src-creds"),
        f"docker://{server.host}/{image}",
        f"oci:{dest}:latest",
    )
    shutil.rmtree(dest, ignore_errors=True)
    return elapsed


async def http_upload_and_get(
    server: Server, blob: Path, digest: str, repo: str, blob_size: int
) -> tuple[float, float]:
    """POST, then PUT ?digest= with the whole body (Distribution 2.8 has no monolithic POST),
    then a streamed GET of the blob (discarded)."""
    headers = server.auth_header()
    timeout = aiohttp.ClientTimeout(total=1800)
    async with aiohttp.ClientSession(timeout=timeout) as client:

        async def body() -> object:
            with blob.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    yield chunk

        started = time.perf_counter()
        async with client.post(
            f"http://{server.host}/v2/{repo}/blobs/uploads/", headers=headers
        ) as resp:
            if resp.status != 202:
                raise RuntimeError(f"{server.name} upload: {resp.status} {await resp.text()}")
            location = resp.headers["Location"]
        if location.startswith("/"):
            location = f"http://{server.host}{location}"
        sep = "&" if "?" in location else "?"
        async with client.put(
            f"{location}{sep}digest={digest}",
            data=body(),
            headers={
                **headers,
                "Content-Type": "application/octet-stream",
                "Content-Length": str(blob_size),
            },
        ) as resp:
            if resp.status != 201:
                raise RuntimeError(f"{server.name} upload: {resp.status} {await resp.text()}")
        upload = time.perf_counter() - started
        started = time.perf_counter()
        async with client.get(
            f"http://{server.host}/v2/{repo}/blobs/{digest}", headers=headers
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"{server.name} get: {resp.status}")
            async for _chunk in resp.content.iter_chunked(1 << 20):
                pass
        return upload, time.perf_counter() - started


def bearer_header(server: Server, repo: str) -> dict[str, str]:
    """A registry bearer token for `repo`, as docker/skopeo/podman send after the 401 challenge
    (the peer runs without auth: no header)."""
    import urllib.request

    if not server.auth:
        return {}
    url = f"http://{server.host}/auth/token?service={server.host}&scope=repository:{repo}:pull"
    req = urllib.request.Request(url, headers=server.auth_header())
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = json.loads(resp.read())
    return {"Authorization": f"Bearer {body.get('token') or body['access_token']}"}


def wrk_rps(server: Server, path: str, seconds: int, auth: dict[str, str]) -> float:
    args = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency"]
    for key, value in {
        **auth,
        "Accept": f"{OCI_MANIFEST}, application/vnd.docker.distribution.manifest.v2+json",
    }.items():
        args += ["-H", f"{key}: {value}"]
    args.append(f"http://{server.host}{path}")
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{server.name} answered {non2xx.group(1)} non-2xx responses to wrk")
    return float(match.group(1)) if match else 0.0


@dataclass
class Plan:
    large: Path
    small: Path
    blob: Path
    seconds: int


def namespace(server: Server) -> str:
    return "admin" if server.auth else "bench"


def run_round(server: Server, plan: Plan, round_no: int, work: Path) -> dict[str, float]:
    """One round on one server: every path once, RSS of its process tree sampled throughout."""
    ns, tag = namespace(server), f"r{round_no}"
    out: dict[str, float] = {}
    server.start_sampling()
    out["push 1 large layer s"] = push(server, plan.large, f"{ns}/large{round_no}:{tag}")
    out["pull 1 large layer s"] = pull(server, f"{ns}/large{round_no}:{tag}", work)
    out["push small layers s"] = push(server, plan.small, f"{ns}/small{round_no}:{tag}")
    out["pull small layers s"] = pull(server, f"{ns}/small{round_no}:{tag}", work)
    blob_digest = "sha256:" + plan.blob.name
    up, get = asyncio.run(
        http_upload_and_get(server, plan.blob, blob_digest, f"{ns}/raw{round_no}", size(plan.blob))
    )
    out["HTTP blob upload s"], out["HTTP blob GET s"] = up, get
    for label, repo in (("3 layers", "m3"), ("200 layers", "m200")):
        auth = bearer_header(server, f"{ns}/{repo}")
        out[f"manifest GET req/s, {label}"] = wrk_rps(
            server, f"/v2/{ns}/{repo}/manifests/v1", plan.seconds, auth
        )
    server.stop_sampling()
    out["peak RSS MB (tree)"] = server.rss_peak_kb / 1024
    out["peak PSS MB (tree)"] = server.pss_peak_kb / 1024
    return out


def size(path: Path) -> int:
    return path.stat().st_size


def lower_is_better(key: str) -> bool:
    return key.endswith(" s") or key.startswith("peak")


def summary(values: list[float], key: str) -> tuple[float, str]:
    """The median (the worst round for memory: a peak is a peak) and the spread as min-max."""
    mid = max(values) if key.startswith("peak") else statistics.median(values)
    return mid, f"{min(values):.3g}-{max(values):.3g}"


def report(results: dict[str, list[dict[str, float]]], peer_name: str) -> None:
    names = [n for n in results if n != peer_name]
    head = f"{'path':28}" + "".join(f" {n:>22}" for n in [*names, peer_name])
    head += "".join(f" {'ratio ' + n:>16}" for n in names)
    print("\n" + head + "   (median [min-max]; ratio > 1: dockyard better)")
    for key in results[names[0]][0]:
        cells, medians = [], {}
        for name in [*names, peer_name]:
            mid, spread = summary([r[key] for r in results[name]], key)
            medians[name] = mid
            cells.append(f" {mid:9.3f} [{spread:>11}]")
        line = f"{key:28}" + "".join(cells)
        for name in names:
            a, b = medians[name], medians[peer_name]
            ratio = (b / a if a else 0.0) if lower_is_better(key) else (a / b if b else 0.0)
            line += f" {'' if key.startswith('peak') else f'{ratio:.2f}':>16}"
        print(line)


def seed(servers: list[Server], work: Path) -> None:
    """The images wrk GETs: 3 layers (a normal image) and 200 layers, tag v1 in m3 and m200."""
    images = {"m3": [100 << 10] * 3, "m200": [8 << 10] * 200}
    for repo, layers in images.items():
        layout = build_layout(work / f"seed-{repo}", layers)
        for server in servers:
            push(server, layout, f"{namespace(server)}/{repo}:v1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB, 50 small layers, 3 s")
    parser.add_argument("--workers", type=int, default=None, help="default: dockyard's own")
    parser.add_argument(
        "--tuned",
        type=int,
        default=None,
        metavar="WORKERS",
        help="also run dockyard with this many workers (a 'tuned' column)",
    )
    parser.add_argument("--src", type=Path, default=None, help="dockyard source to run")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="DIR",
        help="also run the dockyard source in DIR, same flags (a 'before' column, same rounds)",
    )
    parser.add_argument("--large-mib", type=int, default=None)
    parser.add_argument("--small-count", type=int, default=None)
    parser.add_argument("--seconds", type=int, default=None, help="wrk duration per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    large_mib = args.large_mib or (64 if args.quick else 200)
    small_count = args.small_count or (50 if args.quick else 200)
    seconds = args.seconds or (3 if args.quick else 10)

    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    print(f"work dir {work}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}")
    print(f"dockyard workers: {args.workers or 'default'}; tuned: {args.tuned}; src: {args.src}")
    print(f"layouts: 1 x {large_mib} MiB, {small_count} x 100 KiB; wrk -t2 -c32 {seconds} s")
    large = build_layout(work / "large", [large_mib << 20])
    small = build_layout(work / "small", [100 << 10] * small_count)
    blob = max((large / "blobs" / "sha256").iterdir(), key=size)
    plan = Plan(large, small, blob, seconds)

    servers: list[Server] = []
    results: dict[str, list[dict[str, float]]] = {}
    try:
        # In the list as soon as started: the finally below stops whatever did start.
        servers.append(start_dockyard(work, "dockyard", args.workers, args.src))
        if args.baseline:
            servers.append(start_dockyard(work, "baseline", args.workers, args.baseline))
        if args.tuned:
            servers.append(start_dockyard(work, "tuned", args.tuned, args.src))
        servers.append(start_distribution(work))
        results = {s.name: [] for s in servers}
        seed(servers, work)
        for round_no in range(args.rounds):
            # Interleaved: A B, then B A, ...: a drift in the machine's load falls on both.
            order = servers if round_no % 2 == 0 else servers[::-1]
            for server in order:
                figures = run_round(server, plan, round_no, work)
                results[server.name].append(figures)
                print(
                    f"round {round_no} {server.name}: "
                    + ", ".join(f"{k}={v:.3f}" for k, v in figures.items()),
                    flush=True,
                )
        for server in servers:
            for label, kb in sorted(server.rss_by_process_kb.items()):
                print(f"  {server.name} peak RSS, last round: {kb / 1024:6.1f} MB  {label}")
    finally:
        for server in servers:
            server.stop()
    report(results, "docker-registry")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
