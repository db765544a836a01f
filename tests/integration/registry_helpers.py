"""Helpers for the registry tests: raw /v2 pushes over httpx, and direct database reads of the
outbox (the webhook engineer tests deliveries; here we check which events were recorded)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from typing import Any

import asyncpg
import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def no_5xx(response: httpx.Response) -> httpx.Response:
    assert response.status_code < 500, f"{response.request.url}: {response.text[:500]}"
    return response


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])


def upload(client: httpx.Client, repo: str, data: bytes) -> str:
    d = digest(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": d}, content=data)
    assert r.status_code == 201, r.text
    return d


def image_manifest(
    client: httpx.Client,
    repo: str,
    layer: bytes = b"layer",
    arch: str = "amd64",
    **extra: Any,
) -> bytes:
    config = json.dumps({"os": "linux", "architecture": arch, "rootfs": {}}).encode()
    config_digest = upload(client, repo, config)
    layer_digest = upload(client, repo, layer)
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
    }
    doc.update(extra)
    return json.dumps(doc).encode()


def put_manifest(
    client: httpx.Client, repo: str, ref: str, body: bytes, media_type: str = OCI_MANIFEST
) -> httpx.Response:
    return client.put(
        f"/v2/{repo}/manifests/{ref}", content=body, headers={"Content-Type": media_type}
    )


def push(client: httpx.Client, repo: str, tag: str, layer: bytes = b"layer") -> str:
    body = image_manifest(client, repo, layer)
    r = put_manifest(client, repo, tag, body)
    assert r.status_code == 201, r.text
    return digest(body)


# -- database ----------------------------------------------------------------------------------


def _rows(database_url: str, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with sqlite3.connect(path) as conn:
            return list(conn.execute(sql.replace("$1", "?").replace("$2", "?"), args))

    async def fetch() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return [tuple(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def events(database_url: str, repository_key: str) -> list[tuple[str, dict[str, Any]]]:
    """(type, payload) of every outbox event for a repository, in order."""
    rows = _rows(
        database_url,
        "SELECT type, payload FROM outbox_events WHERE repository_key = $1 ORDER BY seq",
        (repository_key,),
    )
    return [(t, p if isinstance(p, dict) else json.loads(p)) for t, p in rows]


def set_repository(database_url: str, full_name: str, column: str, value: Any) -> None:
    assert column in {"immutable_tags", "tag_limit", "visibility"}
    ns, name = full_name.split("/")
    sql = f"UPDATE repositories SET {column} = $1 WHERE namespace = $2 AND name = $3"
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with sqlite3.connect(path) as conn:
            conn.execute(
                sql.replace("$1", "?").replace("$2", "?").replace("$3", "?"), (value, ns, name)
            )
        return

    async def run() -> None:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(sql, value, ns, name)
        finally:
            await conn.close()

    asyncio.run(run())


def repo_counts(database_url: str, full_name: str) -> tuple[int, int]:
    ns, name = full_name.split("/")
    rows = _rows(
        database_url,
        "SELECT pulls, pushes FROM repositories WHERE namespace = $1 AND name = $2",
        (ns, name),
    )
    return int(rows[0][0]), int(rows[0][1])
