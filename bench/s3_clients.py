"""Which S3 client the S3 driver uses: aiobotocore against obstore, on the local S3 server (moto).

Not a test. Run from the repository (obstore is not a dependency: `pip install obstore` first):

    .venv/bin/python bench/s3_clients.py            # 64 MiB object, 3 rounds
    .venv/bin/python bench/s3_clients.py --mib 256

For each client: PUT of one object (as 8 MiB multipart parts: what the driver does), a streamed
GET of it, and the peak RSS growth of this process while doing so. moto runs in its own process,
so its memory is not counted. Both clients go through the same loopback and the same moto, so
the figures compare client overhead only (moto itself is the bottleneck for absolute speed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.s3 import ACCESS_KEY, REGION, SECRET_KEY, start_s3

PART = 8 * 1024 * 1024


class PeakRss:
    """Samples this process's RSS every 20 ms from a thread; `peak` minus `base` is the growth."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.base) / 2**20


async def aiobotocore_round(endpoint: str, bucket: str, data: bytes) -> tuple[float, float]:
    from aiobotocore.session import get_session

    session = get_session()
    async with session.create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    ) as s3:
        key = f"a-{time.monotonic_ns()}"
        t0 = time.perf_counter()
        mp = await s3.create_multipart_upload(Bucket=bucket, Key=key)
        parts = []
        for number, start in enumerate(range(0, len(data), PART), 1):
            resp = await s3.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=mp["UploadId"],
                PartNumber=number,
                Body=data[start : start + PART],
            )
            parts.append({"PartNumber": number, "ETag": resp["ETag"]})
        await s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=mp["UploadId"], MultipartUpload={"Parts": parts}
        )
        t1 = time.perf_counter()
        resp = await s3.get_object(Bucket=bucket, Key=key)
        got = 0
        async with resp["Body"] as body:
            async for chunk in body.iter_chunks(1024 * 1024):
                got += len(chunk)
        t2 = time.perf_counter()
        assert got == len(data)
        return t1 - t0, t2 - t1


async def obstore_round(endpoint: str, bucket: str, data: bytes) -> tuple[float, float]:
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        bucket,
        endpoint=endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        client_options={"allow_http": True},
    )
    key = f"o-{time.monotonic_ns()}"
    t0 = time.perf_counter()
    await obstore.put_async(store, key, data, chunk_size=PART, max_concurrency=1)
    t1 = time.perf_counter()
    result = await obstore.get_async(store, key)
    got = 0
    async for chunk in result.stream(min_chunk_size=1024 * 1024):
        got += len(chunk)
    t2 = time.perf_counter()
    assert got == len(data)
    return t1 - t0, t2 - t1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = os.urandom(args.mib * 2**20)
    with tempfile.TemporaryDirectory() as tmp:
        s3 = start_s3(Path(tmp))
        try:
            bucket = s3.new_bucket()
            results: dict[str, list[tuple[float, float, float]]] = {
                "aiobotocore": [],
                "obstore": [],
            }
            for _ in range(args.rounds):
                # Interleaved rounds, so a load elsewhere on the machine falls on both.
                for name, fn in (("aiobotocore", aiobotocore_round), ("obstore", obstore_round)):
                    with PeakRss() as rss:
                        put_s, get_s = asyncio.run(fn(s3.endpoint, bucket, data))
                    results[name].append((put_s, get_s, rss.growth_mib))
        finally:
            s3.stop()
    print(f"{args.mib} MiB object, {args.rounds} rounds, moto on loopback; medians:")
    for name, rows in results.items():
        put = statistics.median(r[0] for r in rows)
        get = statistics.median(r[1] for r in rows)
        rss = max(r[2] for r in rows)
        print(
            f"  {name:12s} PUT {args.mib / put:7.1f} MiB/s   GET {args.mib / get:7.1f} MiB/s"
            f"   peak RSS growth {rss:6.1f} MiB"
        )


if __name__ == "__main__":
    main()
