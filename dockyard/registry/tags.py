"""GET /v2/<name>/tags/list with `n`/`last` pagination."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dockyard.registry.access import open_repository
from dockyard.registry.pagination import next_link, page_params
from dockyard.repos import content
from dockyard.rules.permissions import AccessLevel

router = APIRouter(include_in_schema=False)


@router.get("/v2/{namespace}/{repository}/tags/list")
async def list_tags(request: Request, namespace: str, repository: str) -> JSONResponse:
    n, last = page_params(request)
    services = request.app.state.services
    async with services.session() as session:
        ctx = await open_repository(request, session, namespace, repository, AccessLevel.READ_ONLY)
        if n == 0:
            # The spec: `n=0` asks for an empty list (and there is no next page to link to).
            return JSONResponse({"name": ctx.name, "tags": []})
        names = await content.tag_names(
            session, ctx.repository.id, None if n is None else n + 1, last
        )
    headers = {}
    if n is not None and len(names) > n:
        names = names[:n]
        headers["Link"] = next_link(request.url.path, n, names[-1])
    return JSONResponse({"name": ctx.name, "tags": names}, headers=headers)
