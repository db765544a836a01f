"""GET /v2/_catalog: the repositories the caller can read, with `n`/`last` pagination.

A registry bearer token lists what its account can read only when it holds
`registry:catalog:*`; any other token lists just the repositories it grants `pull` on."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from dockyard.accounts.principal import Principal
from dockyard.auth.access import repository_access
from dockyard.auth.deps import require_principal
from dockyard.auth.tokens import CATALOG_SCOPE
from dockyard.registry.pagination import next_link, page_params
from dockyard.repos import content
from dockyard.rules.permissions import AccessLevel

router = APIRouter(include_in_schema=False)

_BATCH = 500


@router.get("/v2/_catalog")
async def catalog(
    request: Request, principal: Principal = Depends(require_principal)
) -> JSONResponse:
    n, last = page_params(request)
    if principal.scopes is not None and "*" in (principal.actions_for(CATALOG_SCOPE) or ()):
        principal = dataclasses.replace(principal, scopes=None)
    services = request.app.state.services
    names: list[str] = []
    more = False
    async with services.session() as session:
        cursor = last
        while True:
            batch = await content.repository_names(session, _BATCH, cursor)
            for repo in batch:
                if (principal.is_admin and principal.scopes is None) or (
                    await repository_access(session, principal, repo) >= AccessLevel.READ_ONLY
                ):
                    if n is not None and len(names) >= n:
                        more = True
                        break
                    names.append(repo.full_name)
            if more or len(batch) < _BATCH:
                break
            cursor = batch[-1].full_name
    headers = {}
    if more and names:
        headers["Link"] = next_link("/v2/_catalog", n or 0, names[-1])
    return JSONResponse({"repositories": names}, headers=headers)
