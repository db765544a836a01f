"""GET /v2/<name>/referrers/<digest>: an OCI image index of the manifests whose `subject` is
that digest, optionally filtered by `artifactType`."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dockyard.registry.access import open_repository
from dockyard.registry.blobs import check_digest
from dockyard.registry.mediatypes import OCI_INDEX
from dockyard.repos import content
from dockyard.rules.permissions import AccessLevel

router = APIRouter(include_in_schema=False)


@router.get("/v2/{namespace}/{repository}/referrers/{digest}")
async def referrers(request: Request, namespace: str, repository: str, digest: str) -> Response:
    check_digest(digest)
    artifact_type = request.query_params.get("artifactType") or None
    services = request.app.state.services
    async with services.session() as session:
        ctx = await open_repository(request, session, namespace, repository, AccessLevel.READ_ONLY)
        rows = await content.referrers(session, ctx.repository.id, digest, artifact_type)
    manifests = []
    for row in rows:
        entry: dict[str, object] = {
            "mediaType": row.media_type,
            "digest": row.digest,
            "size": row.size,
        }
        if row.artifact_type:
            entry["artifactType"] = row.artifact_type
        if row.annotations_json:
            entry["annotations"] = json.loads(row.annotations_json)
        manifests.append(entry)
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    return Response(
        content=json.dumps(body), media_type=OCI_INDEX, headers=headers, status_code=200
    )
