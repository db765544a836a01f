"""MSR's repositories API at /api/v0/repositories: list, create, get, patch, delete repositories,
and their tags. Team access lives in `access_routes`.

Thin: parse, authorize through `auth.access` (`repos.lookups`), call `repos.service`, shape the
answer; the unit of work commits. Anonymous callers see public repositories only. A repository
the caller cannot read answers 404 exactly as a missing one does (as /v2 answers NAME_UNKNOWN),
so private names cannot be enumerated; one they can read but not change answers 403.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account
from dockyard.accounts.principal import Principal
from dockyard.api.pagination import (
    MAX_PAGE_SIZE,
    Keyset,
    PageParams,
    count_rows,
    keyset_page,
    page_params,
    set_page_headers,
)
from dockyard.api.responses import errors
from dockyard.api.routing import AuthenticateFirstRoute
from dockyard.api.uow import UnitOfWork
from dockyard.auth.deps import get_principal, require_principal, services_of
from dockyard.errors import DockyardError, ErrorCode
from dockyard.repos import service as repos
from dockyard.repos.content import delete_tag as content_delete_tag
from dockyard.repos.listing import list_tag_objects, repository_tags, tag_objects
from dockyard.repos.lookups import namespace_named, repository_for, require_namespace_admin
from dockyard.repos.models import Repository, Tag
from dockyard.repos.schemas import CreateRepo, RepositoryList, RepositoryOut, TagOut, UpdateRepo
from dockyard.repos.visible import candidates_filter
from dockyard.rules.permissions import AccessLevel
from dockyard.webhooks import service as webhooks

router = APIRouter(prefix="/api/v0", tags=["repositories"], route_class=AuthenticateFirstRoute)


def _repository_start(token: str) -> tuple[str, str]:
    # Namespaces hold no "/": a token without one starts at that namespace.
    namespace, _sep, name = token.partition("/")
    return namespace, name


# pageStart is "namespace/name", the list is ordered by (namespace, name).
REPOSITORY_PAGES: Keyset[Any] = Keyset(
    (Repository.namespace, Repository.name), _repository_start, lambda row: row[0].full_name
)
TAG_PAGES: Keyset[Tag] = Keyset((Tag.name,), lambda token: (token,), lambda tag: tag.name)


async def _repository_page(
    session: AsyncSession,
    response: Response,
    principal: Principal | None,
    namespace: Account | None,
    params: PageParams,
) -> dict[str, Any]:
    stmt = repos.readable_repositories(principal, namespace)
    # The rule filters the page's candidates, read from indexes (repos.visible): a user who
    # sees a few of many repositories costs what the first page of an administrator's does.
    start = _repository_start(params.start) if params.start else None
    narrow = candidates_filter(principal, start, params.size + 1, inclusive=True)
    paged = stmt if narrow is None else stmt.where(narrow)
    page = await keyset_page(session, paged, REPOSITORY_PAGES, replace(params, count=False))
    if params.count:
        page = replace(page, total=await count_rows(session, stmt))
    set_page_headers(response, page, params)
    return {"repositories": [repos.repository_wire(r, bool(org)) for r, org in page.items]}


def _list_page_params(
    request: Request,
    limit: int | None = Query(None, description="DTR's older name for pageSize (at most 1000)."),
    params: PageParams = Depends(page_params),
) -> PageParams:
    """pageSize, or `limit` (older DTR clients' name) when pageSize is not given; a limit past
    the maximum is clamped, as eNZi's is."""
    if limit is None or "pageSize" in request.query_params:
        return params
    if limit < 1:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "limit must be at least 1.",
            detail={"field": "limit", "value": limit},
        )
    return PageParams(params.start, min(limit, MAX_PAGE_SIZE), params.count)


@router.get(
    "/repositories",
    response_model=RepositoryList,
    summary="List the repositories you can see",
    responses=errors(400, 401),
)
async def list_all(
    session: UnitOfWork,
    response: Response,
    params: PageParams = Depends(_list_page_params),
    principal: Principal | None = Depends(get_principal),
) -> dict[str, Any]:
    return await _repository_page(session, response, principal, None, params)


@router.get(
    "/repositories/{namespace}",
    response_model=RepositoryList,
    summary="List a namespace's repositories you can see",
    responses=errors(400, 401, 404),
)
async def list_namespace(
    session: UnitOfWork,
    response: Response,
    namespace: str,
    params: PageParams = Depends(page_params),
    principal: Principal | None = Depends(get_principal),
) -> dict[str, Any]:
    account = await namespace_named(session, namespace)
    return await _repository_page(session, response, principal, account, params)


@router.post(
    "/repositories/{namespace}",
    status_code=201,
    response_model=RepositoryOut,
    summary="Create a repository",
    responses=errors(400, 401, 403, 404, 409, 413),
)
async def create(
    session: UnitOfWork,
    namespace: str,
    form: CreateRepo,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    account = await namespace_named(session, namespace)
    await require_namespace_admin(
        session, principal, account, f"create repositories in '{namespace}'"
    )
    repo = await repos.create_repository(
        session,
        account,
        form.name,
        principal.name,
        visibility=form.visibility,
        short_description=form.shortDescription,
        long_description=form.longDescription,
        scan_on_push=form.scanOnPush,
        immutable_tags=form.immutableTags,
        enable_manifest_lists=form.enableManifestLists,
        tag_limit=form.tagLimit,
    )
    return repos.repository_wire(repo, account.is_org)


@router.get(
    "/repositories/{namespace}/{name}",
    response_model=RepositoryOut,
    summary="Get a repository",
    responses=errors(401, 404),
)
async def get(
    session: UnitOfWork,
    namespace: str,
    name: str,
    principal: Principal | None = Depends(get_principal),
) -> dict[str, Any]:
    repo, account = await repository_for(
        session, principal, namespace, name, AccessLevel.READ_ONLY, "see this repository"
    )
    return repos.repository_wire(repo, account.is_org)


@router.patch(
    "/repositories/{namespace}/{name}",
    response_model=RepositoryOut,
    summary="Change a repository's settings",
    responses=errors(400, 401, 403, 404, 413),
)
async def update(
    session: UnitOfWork,
    namespace: str,
    name: str,
    form: UpdateRepo,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    repo, account = await repository_for(
        session, principal, namespace, name, AccessLevel.ADMIN, "change this repository"
    )
    await repos.update_repository(
        session, repo, account.is_org, principal.name, form.model_dump(exclude_none=True)
    )
    return repos.repository_wire(repo, account.is_org)


@router.delete(
    "/repositories/{namespace}/{name}",
    status_code=204,
    response_class=Response,
    summary="Delete a repository, its tags and its webhooks",
    responses=errors(401, 403, 404),
)
async def delete(
    session: UnitOfWork,
    namespace: str,
    name: str,
    principal: Principal = Depends(require_principal),
) -> None:
    repo, _account = await repository_for(
        session, principal, namespace, name, AccessLevel.ADMIN, "delete this repository"
    )
    await repos.delete_repository(session, repo, principal.name)
    # Its webhooks go with it, in the same unit of work: a repository created later under this
    # name must not inherit them.
    await webhooks.delete_for_repository(session, namespace, name)


# --- tags --------------------------------------------------------------------------------------


@router.get(
    "/repositories/{namespace}/{name}/tags",
    response_model=list[TagOut],
    summary="List a repository's tags",
    responses=errors(400, 401, 404),
)
async def list_tags(
    session: UnitOfWork,
    response: Response,
    namespace: str,
    name: str,
    params: PageParams = Depends(page_params),
    principal: Principal | None = Depends(get_principal),
) -> list[dict[str, Any]]:
    repo, _account = await repository_for(
        session, principal, namespace, name, AccessLevel.READ_ONLY, "see this repository"
    )
    page = await keyset_page(session, repository_tags(repo), TAG_PAGES, params)
    set_page_headers(response, page, params)
    return await list_tag_objects(session, repo, page.items)


@router.get(
    "/repositories/{namespace}/{name}/tags/{reference}",
    response_model=list[TagOut],
    summary="Get a tag (one object per platform) or every tag on a digest",
    responses=errors(401, 404),
)
async def get_tag(
    session: UnitOfWork,
    namespace: str,
    name: str,
    reference: str,
    principal: Principal | None = Depends(get_principal),
) -> list[dict[str, Any]]:
    repo, _account = await repository_for(
        session, principal, namespace, name, AccessLevel.READ_ONLY, "see this repository"
    )
    found = await tag_objects(session, repo, reference)
    if found is None:
        raise DockyardError(ErrorCode.NO_SUCH_REF, detail={"reference": reference[:300]})
    return found


@router.delete(
    "/repositories/{namespace}/{name}/tags/{tag}",
    status_code=204,
    response_class=Response,
    summary="Delete a tag (its manifest stays until garbage collection)",
    responses=errors(401, 403, 404),
)
async def delete_tag(
    request: Request,
    session: UnitOfWork,
    namespace: str,
    name: str,
    tag: str,
    principal: Principal = Depends(require_principal),
) -> None:
    repo, _account = await repository_for(
        session, principal, namespace, name, AccessLevel.READ_WRITE, "delete tags here"
    )
    host = services_of(request).registry_host
    await content_delete_tag(session, host, repo, tag, principal.name)
