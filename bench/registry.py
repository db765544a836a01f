"""Benchmark dockyard against Debian's docker-registry (CNCF Distribution 2.8), side by side.

Not a test: it prints figures and dockyard/docker-registry ratios. Run from the repository:

    .venv/bin/python bench/registry.py            # full sizes (512 MiB layer, 200 x 64 KiB, 30 s)
    .venv/bin/python bench/registry.py --quick    # smaller sizes, for a smoke run

Measures, for each server: skopeo push/pull of one large layer, skopeo push/pull of many small
layers, aiohttp monolithic upload and GET of the large blob, manifest GET requests per second
(wrk, concurrency 32), and peak server RSS during the large push.
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

    deadline = time.monotonic() + 60
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


def start_dockyard(work: Path, workers: int) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "DOCKYARD_DATA_DIR": str(work / "dockyard-data"),
        "DOCKYARD_PORT": str(port),
        "DOCKYARD_HOST": "127.0.0.1",
        "DOCKYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "DOCKYARD_LOG_LEVEL": "WARNING",
        "DOCKYARD_WORKERS": str(workers),
    }
    env.pop("DOCKYARD_DATABASE_URL", None)
    log = (work / "dockyard.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "serve", "--workers", str(workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=REPO,
    )
    server = Server("dockyard", port, proc, ("admin", ADMIN_PASSWORD))
    wait_ready(f"http://{server.host}/v2/", server.auth_header(), proc)
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
    wait_ready(f"http://{server.host}/v2/", {}, proc)
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
    """Monolithic POST ?digest= of the blob, then a streamed GET of it (discarded)."""
    headers = server.auth_header()
    timeout = aiohttp.ClientTimeout(total=1800)
    async with aiohttp.ClientSession(timeout=timeout) as client:

        async def body() -> object:
            with blob.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    yield chunk

        started = time.perf_counter()
        # POST then PUT ?digest= with the whole body: Distribution 2.8 has no monolithic POST.
        async with client.post(
            f"http://{server.host}/v2/{repo}/blobs/uploads/", headers=headers
        ) as resp:
            if resp.status != 202:
                raise RuntimeError(f"{server.name} upload: {resp.status} {await resp.text()}")
            location = resp.headers["Location"]
        if location.startswith("/"):
            location = f"http://{server.host}{location}"
        sep = "&" if "?" in location else "?"
        size = str(blob_size)
        async with client.put(
            f"{location}{sep}digest={digest}",
            data=body(),
            headers={**headers, "Content-Type": "application/octet-stream", "Content-Length": size},
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
    """A registry bearer token, as docker/skopeo/podman use after the 401 challenge; falls back
    to Basic when the server offers no token endpoint."""
    import urllib.request

    if not server.auth:
        return {}
    url = f"http://{server.host}/auth/token?service={server.host}&scope=repository:{repo}:pull"
    try:
        req = urllib.request.Request(url, headers=server.auth_header())
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = json.loads(resp.read())
        token = body.get("token") or body.get("access_token")
        if token:
            return {"Authorization": f"Bearer {token}"}
    except (OSError, ValueError):
        pass
    return server.auth_header()


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
        print(f"  warning: {server.name} answered {non2xx.group(1)} non-2xx responses")
    return float(match.group(1)) if match else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB, 50 small layers, 5 s")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("DOCKYARD_WORKERS", 2)))
    parser.add_argument("--large-mib", type=int, default=None)
    parser.add_argument("--small-count", type=int, default=None)
    parser.add_argument("--seconds", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=1, help="repeat pushes/pulls; best is kept")
    args = parser.parse_args()
    large_mib = args.large_mib or (64 if args.quick else 512)
    small_count = args.small_count or (50 if args.quick else 200)
    seconds = args.seconds or (5 if args.quick else 30)

    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    print(f"work dir {work}; dockyard workers={args.workers}")
    print(f"building layouts: 1 x {large_mib} MiB, {small_count} x 64 KiB ...")
    large = build_layout(work / "large", [large_mib << 20])
    small = build_layout(work / "small", [64 << 10] * small_count)
    large_blob = max((large / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    large_digest = "sha256:" + large_blob.name

    servers = [start_dockyard(work, args.workers), start_distribution(work)]
    results: dict[str, dict[str, float]] = {}
    try:
        for server in servers:
            r: dict[str, float] = {}
            ns = "admin" if server.auth else "bench"
            best: dict[str, float] = {}
            for round_no in range(args.rounds):
                tag = f"r{round_no}"
                server.start_sampling()
                t = push(server, large, f"{ns}/large{round_no}:{tag}")
                rss = server.stop_sampling()
                best["large push s"] = min(best.get("large push s", 1e9), t)
                best["peak RSS MB (large push)"] = max(
                    best.get("peak RSS MB (large push)", 0), rss / 1024
                )
                best["peak PSS MB (large push)"] = max(
                    best.get("peak PSS MB (large push)", 0), server.pss_peak_kb / 1024
                )
                t = pull(server, f"{ns}/large{round_no}:{tag}", work)
                best["large pull s"] = min(best.get("large pull s", 1e9), t)
                t = push(server, small, f"{ns}/small{round_no}:{tag}")
                best["small push s"] = min(best.get("small push s", 1e9), t)
                t = pull(server, f"{ns}/small{round_no}:{tag}", work)
                best["small pull s"] = min(best.get("small pull s", 1e9), t)
            r.update(best)
            up, get = asyncio.run(
                http_upload_and_get(
                    server, large_blob, large_digest, f"{ns}/raw", large_blob.stat().st_size
                )
            )
            r["http monolithic upload s"] = up
            r["http blob GET s"] = get
            path = f"/v2/{ns}/small0/manifests/r0"
            r["manifest GET req/s"] = wrk_rps(
                server, path, seconds, bearer_header(server, f"{ns}/small0")
            )
            if server.auth:
                r["manifest GET req/s (Basic)"] = wrk_rps(
                    server, path, seconds, server.auth_header()
                )
            results[server.name] = r
            for label, kb in sorted(server.rss_by_process_kb.items()):
                print(f"  {server.name} peak RSS, last large push: {kb / 1024:6.1f} MB  {label}")
            print(f"{server.name}: " + ", ".join(f"{k}={v:.3f}" for k, v in r.items()))
    finally:
        for server in servers:
            server.stop()

    ours, peer = results["dockyard"], results["docker-registry"]
    print()
    print(
        f"{'measure':34} {'dockyard':>12} {'registry':>12} {'ratio':>8}"
        "  (ratio > 1: dockyard better)"
    )
    for key in ours:
        a, b = ours[key], peer.get(key, peer.get(key.replace(" (Basic)", ""), 0.0))
        if key.endswith(" s") or key.startswith("peak"):
            ratio = b / a if a else 0.0  # time/memory: lower is better
        else:
            ratio = a / b if b else 0.0
        print(f"{key:34} {a:12.3f} {b:12.3f} {ratio:8.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
