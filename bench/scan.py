"""Vulnerability scanning benchmark (not a test): import, scan and re-check times, peak RSS.

1. Writes a generated OSV bundle (an osv.dev-style zip; 200,000 records by default) spread over
   Debian 12, Debian 11, Ubuntu 22.04 LTS, Alpine 3.19, PyPI and npm, records of realistic size
   (summary, details, references, a CVSS vector on most, `versions[]` lists on PyPI and npm), a
   tenth of them naming the image's packages (some fixed below the installed version, some
   above), the rest other packages.
2. Imports it (`import_osv`: streamed, batched, the switch): time, records, rows.
3. Scans an image of 2,000 packages (one generated layer, `tests.fakes.scan_images`): the
   inventory pass over the layer (`scan_layer` + `merge_layers`) and the match, timed apart.
4. A re-check: N images matched in a row from their inventories (no layer read), as the
   re-check of every scanned image after an update does. The images share a base: each has
   the 2,000 packages, `--own` (200) of them at versions of its own (what a registry of images
   built on a few bases looks like); the time for 1,000 images is N's time scaled
   (`--recheck 1000` measures it outright). The scan of step 3 is the uncached case: an image
   none of whose packages were matched before.
5. A second import of the same bundle: the switch and the deletion of the replaced version.

Peak RSS is the process's (`resource.getrusage`), after each phase; the bundle is written by a
process of its own, so the figures are the import's and the scan's. Targets on 2 cores: import
<= 60 s, scan <= 10 s, re-check of 1,000 images <= 30 s, peak RSS <= 300 MB.

Run: .venv/bin/python bench/scan.py [--records 200000] [--packages 2000] [--recheck 100]
(DOCKYARD_TEST_DATABASE_URL=postgresql+asyncpg://... runs it against a fresh PostgreSQL DB.)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import random
import resource
import sys
import tempfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.scanning.inventory import Inventory, merge_layers, scan_layer
from dockyard.scanning.matching import match
from dockyard.scanning.vulndb import current_db, import_osv
from tests.fakes.databases import create_database, drop_database
from tests.fakes.osv import CRITICAL_98, MAJOR_53, MINOR_18, MINOR_V4_10
from tests.fakes.scan_images import generated_layer

VECTORS = [CRITICAL_98, MAJOR_53, MINOR_18, MINOR_V4_10, None]
OTHER_ECOSYSTEMS = ["Debian:12", "Debian:11", "Ubuntu:22.04:LTS", "Alpine:v3.19", "PyPI", "npm"]
DETAILS = (
    "A flaw was found in the package's input handling: a crafted request makes it read past "
    "the end of a buffer, which may disclose memory or crash the process. "
) * 4


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _versions(ecosystem: str, rng: random.Random) -> tuple[dict[str, Any], list[str]]:
    major = rng.randint(1, 30)
    if ecosystem.startswith(("Debian", "Ubuntu")):
        fixed = f"{major}.{rng.randint(0, 99)}-{rng.randint(1, 5)}"
    elif ecosystem.startswith("Alpine"):
        fixed = f"{major}.{rng.randint(0, 99)}.{rng.randint(0, 9)}-r{rng.randint(0, 9)}"
    else:
        fixed = f"{major}.{rng.randint(0, 99)}.{rng.randint(0, 9)}"
    listed = []
    if ecosystem in ("PyPI", "npm"):
        listed = [f"{major}.{minor}.0" for minor in range(rng.randint(5, 40))]
    events = [{"introduced": "0"}, {"fixed": fixed}]
    return {"type": "SEMVER" if ecosystem == "npm" else "ECOSYSTEM", "events": events}, listed


def _record(
    i: int, ecosystem: str, name: str, ranges: dict[str, Any], listed: list[str], vector: str | None
) -> dict[str, Any]:
    affected: dict[str, Any] = {
        "package": {"ecosystem": ecosystem, "name": name},
        "ranges": [ranges],
        "database_specific": {"source": f"https://example.invalid/advisories/{i}"},
    }
    if listed:
        affected["versions"] = listed
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": f"BENCH-{i:07d}",
        "modified": "2024-06-01T00:00:00Z",
        "published": "2024-01-01T00:00:00Z",
        "aliases": [f"CVE-2024-{i:07d}"],
        "summary": f"{name}: generated advisory number {i} about a buffer over-read",
        "details": DETAILS,
        "affected": [affected],
        "references": [
            {"type": "ADVISORY", "url": f"https://example.invalid/advisory/{i}"},
            {"type": "WEB", "url": f"https://example.invalid/bug/{i}"},
            {"type": "PACKAGE", "url": f"https://example.invalid/pkg/{name}"},
        ],
    }
    if vector:
        kind = "CVSS_V4" if vector.startswith("CVSS:4") else "CVSS_V3"
        record["severity"] = [{"type": kind, "score": vector}]
    return record


def _targets(inventory: Inventory) -> list[tuple[str, str, str]]:
    """(ecosystem string, name, installed version) of the image's packages."""
    out = []
    for p in inventory.packages:
        ecosystem = "Debian:12" if p.ecosystem == "Debian" else p.ecosystem
        out.append((ecosystem, p.name, p.version))
    return sorted(set(out))


def _above(ecosystem: str, installed: str) -> str:
    if ecosystem == "npm":
        major, minor, patch = installed.split(".")[:3]
        return f"{major}.{minor}.{int(patch) + 1}"
    return installed + ("+b1" if ecosystem.startswith(("Debian", "Ubuntu")) else ".1")


def write_bundle(path: Path, count: int, inventory: Inventory, seed: int = 7) -> None:
    """The generated bundle, written record by record (never held whole)."""
    rng = random.Random(seed)
    targets = _targets(inventory)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for i in range(count):
            vector = VECTORS[i % len(VECTORS)]
            if i % 10 == 0:  # a tenth name the image's packages
                ecosystem, name, installed = targets[(i // 10) % len(targets)]
                ranges, listed = _versions(ecosystem, rng)
                if rng.random() < 0.5:  # half of them fixed above the installed version
                    ranges["events"][1]["fixed"] = _above(ecosystem, installed)
            else:
                ecosystem = rng.choice(OTHER_ECOSYSTEMS)
                name = f"other-{rng.randint(0, 40_000)}"
                ranges, listed = _versions(ecosystem, rng)
            record = _record(i, ecosystem, name, ranges, listed, vector)
            archive.writestr(f"BENCH-{i:07d}.json", json.dumps(record))


def variant(inventory: Inventory, i: int, own: int) -> Inventory:
    """Image `i` of a re-check: the same packages, `own` of them at versions of its own."""
    packages = list(inventory.packages)
    start = (i * own) % max(len(packages) - own, 1)
    for j in range(start, start + own):
        p = packages[j]
        packages[j] = replace(p, version=p.version + f"+image{i}")
    return Inventory(tuple(packages), inventory.distro)


def image_inventory(packages: int) -> tuple[Inventory, float]:
    blob = generated_layer(packages)
    started = time.perf_counter()
    findings = scan_layer("sha256:" + "0" * 64, io.BytesIO(blob))
    inventory = merge_layers([findings])
    return inventory, time.perf_counter() - started


async def run(args: argparse.Namespace, folder: Path, url: str) -> None:
    upgrade(url)
    engine = create_engine(url)
    sm = create_sessionmaker(engine)
    try:
        inventory, inventory_s = image_inventory(args.packages)
        bundle = folder / "all.zip"
        started = time.perf_counter()
        # In a process of its own, so that this one's peak RSS is the import's and the scan's.
        writer = multiprocessing.get_context("spawn").Process(
            target=write_bundle, args=(bundle, args.records, inventory)
        )
        writer.start()
        writer.join()
        assert writer.exitcode == 0
        print(
            f"generated {args.records} records ({bundle.stat().st_size / 1e6:.0f} MB zip) in "
            f"{time.perf_counter() - started:.1f} s; peak RSS {peak_rss_mb():.0f} MB"
        )

        started = time.perf_counter()
        result = await import_osv(sm, bundle)
        import_s = time.perf_counter() - started
        print(
            f"import: {import_s:.1f} s ({result.records} records, {result.rows} rows, "
            f"{result.skipped} skipped; target <= 60 s); peak RSS {peak_rss_mb():.0f} MB"
        )

        started = time.perf_counter()
        async with sm() as session:
            db = await current_db(session)
            assert db is not None
            findings = await match(session, inventory, db.version)
        match_s = time.perf_counter() - started
        print(
            f"scan of {len(inventory.packages)} packages: inventory {inventory_s:.2f} s + match "
            f"{match_s:.2f} s = {inventory_s + match_s:.2f} s ({len(findings)} findings; "
            f"target <= 10 s); peak RSS {peak_rss_mb():.0f} MB"
        )

        started = time.perf_counter()
        for i in range(args.recheck):
            async with sm() as session:
                await match(session, variant(inventory, i + 1, args.own), db.version)
        recheck_s = time.perf_counter() - started
        per_image = recheck_s / args.recheck
        print(
            f"re-check: {args.recheck} images of {len(inventory.packages)} packages, "
            f"{args.own} of them their own (other versions), the rest shared: "
            f"{recheck_s:.1f} s, {per_image * 1000:.0f} ms each: 1,000 images ~ "
            f"{per_image * 1000:.0f} s (target <= 30 s); peak RSS {peak_rss_mb():.0f} MB"
        )

        started = time.perf_counter()
        again = await import_osv(sm, bundle)
        print(
            f"second import (switch to version {again.db_version}, version {db.version}'s rows "
            f"deleted): {time.perf_counter() - started:.1f} s; peak RSS {peak_rss_mb():.0f} MB"
        )
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--packages", type=int, default=2000)
    parser.add_argument("--recheck", type=int, default=100, help="images re-checked")
    parser.add_argument("--own", type=int, default=200, help="packages of its own per image")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-scan-") as tmp:
        folder = Path(tmp)
        url = create_database(folder)
        try:
            asyncio.run(run(args, folder, url))
        finally:
            drop_database(url)


if __name__ == "__main__":
    main()
