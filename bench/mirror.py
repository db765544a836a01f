"""Benchmark push mirroring of a large layer: dockyard's memory and time against the remote's own
push time.

Not a test: it prints medians, spread and the peak RSS. Run from the repository:

    .venv/bin/python bench/mirror.py                  # one 512 MiB layer, 3 rounds
    .venv/bin/python bench/mirror.py --rounds 5 --size-mib 128

dockyard starts with its defaults (`dockyard serve`, no flags; only the SSRF block list is
emptied, as the remote is on loopback) and gets an image with one layer of random bytes
(generated on disk by `bench/registry.py`'s layout builder, never whole in memory), pushed by
skopeo. Each round starts a fresh Debian `docker-registry` as the remote (so nothing is there
already and no blob can be mounted), asks dockyard for a manual push mirroring of the tag
(`POST .../tags/latest/pushMirroring`) and times it until the remote serves the manifest, while
a thread samples (psutil, every 50 ms) the RSS of every process of dockyard's tree. Beside it,
the same image pushed by skopeo straight from the layout on disk to another fresh
`docker-registry`: the remote's own push time. The two are interleaved (mirror first in even
rounds, skopeo first in odd ones) so load elsewhere on the machine falls on both.

Needs psutil (in the test extras, installed by `make bench`), skopeo and docker-registry.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry import OCI_MANIFEST, REPO, build_layout, free_port, skopeo

try:
    import psutil
except ImportError:  # pragma: no cover - a bench prerequisite
    sys.exit("bench/mirror.py needs psutil: .venv/bin/pip install psutil")

ADMIN = ("admin", "bench-admin-password")
MIB = 1024 * 1024
MB = 1_000_000  # RSS figures are in MB (10^6 bytes), as the target is
RSS_TARGET_MB = 200
MANUAL = "/api/v0/repositories/admin/big/tags/latest/pushMirroring"


@dataclass
class Proc:
    name: str
    host: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@dataclass
class Sampler:
    """Peak RSS of a process and all its descendants: per process and summed over the tree; and
    the tree's peak PSS (shared pages divided among the processes mapping them, so libpython
    and the shared libraries count once: what the machine actually spends)."""

    root: int
    per_process: dict[str, int] = field(default_factory=dict)
    summed_peak: int = 0
    pss_peak: int = 0
    _running: bool = False
    _thread: threading.Thread | None = None

    def sample(self) -> int:
        try:
            top = psutil.Process(self.root)
            procs = [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = pss = 0
        for p in procs:
            try:
                info = p.memory_full_info()
                label = f"{p.pid} {' '.join(p.cmdline())[-60:]}"
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += info.rss
            pss += getattr(info, "pss", info.rss)
            self.per_process[label] = max(self.per_process.get(label, 0), info.rss)
        self.summed_peak = max(self.summed_peak, total)
        self.pss_peak = max(self.pss_peak, pss)
        return total

    def __enter__(self) -> Sampler:
        self._running = True

        def loop() -> None:
            while self._running:
                self.sample()
                time.sleep(0.05)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join()
        self.sample()


def start_dockyard(work: Path) -> Proc:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env.update(
        {
            "DOCKYARD_DATA_DIR": str(work / "dockyard-data"),
            "DOCKYARD_PORT": str(port),
            "DOCKYARD_HOST": "127.0.0.1",
            "DOCKYARD_ADMIN_PASSWORD": ADMIN[1],
            "DOCKYARD_LOG_LEVEL": "WARNING",
            # The remote is on loopback, which the SSRF policy blocks by default.
            "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": "",
        }
    )
    log = (work / "dockyard.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=REPO,
    )
    server = Proc("dockyard", f"127.0.0.1:{port}", proc)
    try:
        wait_up(f"http://{server.host}/v2/", proc)
    except BaseException:
        server.stop()  # its delivery child too: it is in the same session
        raise
    return server


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 300.0) -> None:
    """Any HTTP answer from `url` (a busy machine can take minutes to start a server)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited early ({url})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError(f"the server at {url} did not start in {timeout} s")


def start_remote(work: Path, name: str) -> Proc:
    """A fresh docker-registry (its own empty storage) on a loopback port."""
    port = free_port()
    root = work / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (root / "registry.log").open("wb")
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Proc(name, f"127.0.0.1:{port}", proc)
    try:
        wait_up(f"http://{server.host}/v2/", proc)
    except BaseException:
        server.stop()
        raise
    return server


def basic() -> dict[str, str]:
    token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def call(host: str, method: str, path: str, body: Any = None, auth: bool = True) -> int:
    data = json.dumps(body).encode() if body is not None else None
    # docker-registry answers 404 for an OCI manifest unless the client says it accepts one.
    headers = {"Content-Type": "application/json", "Accept": OCI_MANIFEST}
    headers.update(basic() if auth else {})
    req = urllib.request.Request(f"http://{host}{path}", data, headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        if method != "HEAD" and exc.code >= 400 and exc.code != 404:
            print(f"{method} {path}: {exc.code} {exc.read()[:300]!r}", file=sys.stderr)
        return int(exc.code)


def mirror_round(dockyard: Proc, remote: Proc, timeout: float) -> tuple[float, Sampler]:
    body = {
        "remoteHost": f"http://{remote.host}",
        "remoteRepository": "mirror/big",
        "remoteTag": "latest",
        "remoteCA": "",
        "skipTLSVerification": False,
        "username": "",
        "password": "",
        "authToken": "",
    }
    manifest = "/v2/mirror/big/manifests/latest"
    with Sampler(dockyard.proc.pid) as sampler:
        started = time.perf_counter()
        status = call(dockyard.host, "POST", MANUAL, body)
        if status != 201:
            raise RuntimeError(f"the manual push mirroring answered {status}")
        # The manifest goes last: once the remote serves it, every blob is there.
        while call(remote.host, "HEAD", manifest, auth=False) != 200:
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"the mirror did not finish in {timeout} s")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    return elapsed, sampler


def skopeo_round(layout: Path, remote: Proc) -> float:
    return skopeo(
        "copy",
        "--dest-tls-verify=false",
        f"oci:{layout}:latest",
        f"docker://{remote.host}/direct/big:latest",
    )


def summary(values: list[float]) -> str:
    med = statistics.median(values)
    return f"median {med:8.2f}  min {min(values):8.2f}  max {max(values):8.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    # Stopped from outside: still stop the servers it started (the `finally` below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="bench-mirror-", dir=args.workdir))
    print(f"work folder {work}; layer {args.size_mib} MiB; {args.rounds} rounds", flush=True)
    layout = build_layout(work / "layout", [args.size_mib * MIB])
    dockyard = start_dockyard(work)
    remotes: list[Proc] = []
    try:
        if call(dockyard.host, "POST", "/api/v0/repositories/admin", {"name": "big"}) != 201:
            raise RuntimeError("cannot create admin/big")
        seeded = skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"{ADMIN[0]}:{ADMIN[1]}",
            f"oci:{layout}:latest",
            f"docker://{dockyard.host}/admin/big:latest",
        )
        idle = Sampler(dockyard.proc.pid)
        idle.sample()
        print(
            f"seeded dockyard in {seeded:.1f} s; idle tree RSS {idle.summed_peak / MB:.0f} MB,"
            f" PSS {idle.pss_peak / MB:.0f} MB"
        )
        for label, rss in sorted(idle.per_process.items(), key=lambda kv: -kv[1]):
            print(f"  idle {rss / MB:8.1f} MB  {label}")
        mirrors: list[float] = []
        directs: list[float] = []
        peaks: list[float] = []
        pss_peaks: list[float] = []
        per_process: dict[str, int] = {}
        for n in range(args.rounds):
            order = ("mirror", "skopeo") if n % 2 == 0 else ("skopeo", "mirror")
            for what in order:
                remote = start_remote(work, f"remote-{n}-{what}")
                remotes.append(remote)
                if what == "mirror":
                    elapsed, sampler = mirror_round(dockyard, remote, args.timeout)
                    mirrors.append(elapsed)
                    peaks.append(sampler.summed_peak / MB)
                    pss_peaks.append(sampler.pss_peak / MB)
                    for label, rss in sampler.per_process.items():
                        per_process[label] = max(per_process.get(label, 0), rss)
                    print(
                        f"round {n + 1}: mirror {elapsed:7.2f} s, "
                        f"peak tree RSS {sampler.summed_peak / MB:6.1f} MB,"
                        f" PSS {sampler.pss_peak / MB:6.1f} MB",
                        flush=True,
                    )
                else:
                    directs.append(skopeo_round(layout, remote))
                    print(f"round {n + 1}: skopeo push {directs[-1]:7.2f} s", flush=True)
                remote.stop()
                shutil.rmtree(work / remote.name, ignore_errors=True)
        report(args, mirrors, directs, (peaks, pss_peaks), per_process)
    finally:
        for remote in remotes:
            remote.stop()
        dockyard.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def report(
    args: argparse.Namespace,
    mirrors: list[float],
    directs: list[float],
    peak_lists: tuple[list[float], list[float]],
    per_process: dict[str, int],
) -> None:
    peaks, pss_peaks = peak_lists
    print()
    print(f"== one {args.size_mib} MiB layer, {args.rounds} interleaved rounds (seconds, MB) ==")
    print(f"dockyard push mirroring      {summary(mirrors)}")
    print(f"skopeo push to the remote    {summary(directs)}")
    ratio = statistics.median(mirrors) / statistics.median(directs)
    print(f"mirror / skopeo (medians)    {ratio:8.2f}")
    print(f"peak RSS, dockyard tree sum  {summary(peaks)}")
    print(f"peak PSS, dockyard tree sum  {summary(pss_peaks)}")
    print("peak RSS per process (over all rounds):")
    for label, rss in sorted(per_process.items(), key=lambda kv: -kv[1]):
        print(f"  {rss / MB:8.1f} MB  {label}")
    for what, value in (
        ("each process's RSS", max(per_process.values()) / MB),
        ("the tree's summed RSS", max(peaks)),
        ("the tree's PSS", max(pss_peaks)),
    ):
        verdict = "under" if value < RSS_TARGET_MB else "OVER"
        print(f"target {RSS_TARGET_MB} MB, {what}: {verdict} (max {value:.1f} MB)")


if __name__ == "__main__":
    main()
