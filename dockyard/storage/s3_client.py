"""The S3 calls the S3 driver makes, over one aiobotocore client per event loop.

aiobotocore (botocore's async port) rather than obstore: the driver needs the raw multipart
calls (CreateMultipartUpload, UploadPart, CompleteMultipartUpload by UploadId) so that another
replica can continue an upload; obstore only offers multipart uploads as an object living in
one process. bench/s3_clients.py measured both (docs/operations.md has the figures).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

_READ_CHUNK = 1024 * 1024
# CopyObject copies at most 5 GiB; larger objects are copied as a multipart upload of ranges.
_COPY_LIMIT = 5 * 1024**3
_COPY_PART = 1024**3


@dataclass(frozen=True)
class S3Config:
    bucket: str
    endpoint: str = ""
    region: str = "us-east-1"
    access_key_id: str = ""
    secret_access_key: str = ""
    prefix: str = ""
    redirect: bool = False
    # How long a presigned blob URL stays valid (seconds).
    redirect_seconds: int = 600


def _missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


class S3Objects:
    """Objects under the configured bucket and prefix (keys given here are relative to it)."""

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self.bucket = config.bucket
        self._prefix = config.prefix.strip("/") + "/" if config.prefix.strip("/") else ""
        self._clients: dict[asyncio.AbstractEventLoop, tuple[AsyncExitStack, S3Client]] = {}

    def key(self, relative: str) -> str:
        return self._prefix + relative

    def relative(self, key: str) -> str:
        return key[len(self._prefix) :]

    async def client(self) -> S3Client:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            stack = AsyncExitStack()
            cfg = self.config
            client = await stack.enter_async_context(
                get_session().create_client(
                    "s3",
                    endpoint_url=cfg.endpoint or None,
                    region_name=cfg.region or None,
                    # Empty: botocore's own chain (environment, instance role, ...).
                    aws_access_key_id=cfg.access_key_id or None,
                    aws_secret_access_key=cfg.secret_access_key or None,
                    config=AioConfig(max_pool_connections=32, s3={"addressing_style": "path"}),
                )
            )
            entry = self._clients[loop] = (stack, client)
        return entry[1]

    async def close(self) -> None:
        entry = self._clients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[0].aclose()

    async def check_bucket(self) -> None:
        s3 = await self.client()
        await s3.head_bucket(Bucket=self.bucket)

    async def head(self, relative: str) -> tuple[int, float] | None:
        """(size, last modified epoch seconds), or None when there is no such object."""
        s3 = await self.client()
        try:
            meta = await s3.head_object(Bucket=self.bucket, Key=self.key(relative))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return int(meta["ContentLength"]), meta["LastModified"].timestamp()

    async def stream(
        self, relative: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Bytes [start, end] inclusive of the object, in chunks of about 1 MiB."""
        s3 = await self.client()
        extra: dict[str, Any] = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end}"
        response = await s3.get_object(Bucket=self.bucket, Key=self.key(relative), **extra)
        async with response["Body"] as body:
            async for chunk in body.iter_chunks(_READ_CHUNK):
                yield chunk

    async def get_bytes(self, relative: str) -> bytes:
        return b"".join([chunk async for chunk in self.stream(relative)])

    async def put(self, relative: str, data: bytes) -> None:
        s3 = await self.client()
        await s3.put_object(Bucket=self.bucket, Key=self.key(relative), Body=data)

    async def delete(self, relative: str) -> None:
        s3 = await self.client()
        await s3.delete_object(Bucket=self.bucket, Key=self.key(relative))

    async def listing(self, relative_prefix: str) -> AsyncIterator[tuple[str, float]]:
        """(relative key, last modified) of every object under the prefix, in key order."""
        s3 = await self.client()
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.key(relative_prefix)):
            for item in page.get("Contents", []):
                yield self.relative(item["Key"]), item["LastModified"].timestamp()

    async def delete_many(self, relatives: list[str]) -> None:
        """Delete up to 1000 objects in one request (absent ones are no error)."""
        if not relatives:
            return
        s3 = await self.client()
        await s3.delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": self.key(r)} for r in relatives], "Quiet": True},
        )

    async def delete_prefix(self, relative_prefix: str) -> None:
        keys = [key async for key, _ in self.listing(relative_prefix)]
        for start in range(0, len(keys), 1000):
            await self.delete_many(keys[start : start + 1000])

    async def presign(self, relative: str) -> str:
        s3 = await self.client()
        return await s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self.key(relative)},
            ExpiresIn=self.config.redirect_seconds,
        )

    async def copy(self, source: str, target: str, size: int) -> None:
        """A server-side copy: the bytes never pass through this process."""
        s3 = await self.client()
        # Our keys are hex digests and UUIDs: nothing to URL-encode in "bucket/key".
        src = f"{self.bucket}/{self.key(source)}"
        if size <= _COPY_LIMIT:
            await s3.copy_object(Bucket=self.bucket, Key=self.key(target), CopySource=src)
            return
        upload = await s3.create_multipart_upload(Bucket=self.bucket, Key=self.key(target))
        parts = []
        for number, start in enumerate(range(0, size, _COPY_PART), 1):
            end = min(size, start + _COPY_PART) - 1
            part = await s3.upload_part_copy(
                Bucket=self.bucket,
                Key=self.key(target),
                UploadId=upload["UploadId"],
                PartNumber=number,
                CopySource=src,
                CopySourceRange=f"bytes={start}-{end}",
            )
            parts.append({"PartNumber": number, "ETag": part["CopyPartResult"]["ETag"]})
        await s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key(target),
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
        )

    # -- multipart uploads (the upload areas) ------------------------------------------------
    async def create_multipart(self, relative: str) -> str:
        s3 = await self.client()
        upload = await s3.create_multipart_upload(Bucket=self.bucket, Key=self.key(relative))
        return upload["UploadId"]

    async def upload_part(self, relative: str, upload_id: str, number: int, data: bytes) -> str:
        s3 = await self.client()
        part = await s3.upload_part(
            Bucket=self.bucket,
            Key=self.key(relative),
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
        )
        return part["ETag"]

    async def complete_multipart(
        self, relative: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> None:
        s3 = await self.client()
        await s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key(relative),
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
        )

    async def abort_multipart(self, relative: str, upload_id: str) -> None:
        s3 = await self.client()
        try:
            await s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key(relative), UploadId=upload_id
            )
        except ClientError as exc:
            if not _missing(exc):
                raise

    async def multipart_uploads(
        self, relative_prefix: str
    ) -> AsyncIterator[tuple[str, str, float]]:
        """(relative key, UploadId, initiated epoch seconds) of unfinished multipart uploads."""
        s3 = await self.client()
        paginator = s3.get_paginator("list_multipart_uploads")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.key(relative_prefix)):
            for item in page.get("Uploads", []):
                yield self.relative(item["Key"]), item["UploadId"], item["Initiated"].timestamp()

    async def copy_into_part(
        self, source: str, size: int, target: str, upload_id: str, number: int
    ) -> tuple[int, str]:
        """The whole object `source` as part `number` of a multipart upload on `target`
        (server-side); returns (part number, ETag)."""
        s3 = await self.client()
        part = await s3.upload_part_copy(
            Bucket=self.bucket,
            Key=self.key(target),
            UploadId=upload_id,
            PartNumber=number,
            CopySource=f"{self.bucket}/{self.key(source)}",
            CopySourceRange=f"bytes=0-{size - 1}",
        )
        return number, part["CopyPartResult"]["ETag"]
