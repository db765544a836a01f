"""MSR's repositories API at /api/v0/repositories (and /api/v0/repositoryNamespaces team
access): list, create, get, patch, delete repositories; their tags; team grants.

Thin: every decision about a repository or namespace goes through `auth.access`; anonymous
callers see public repositories only. A repository the caller cannot read answers 404 exactly
as a missing one does (as /v2 answers NAME_UNKNOWN), so private names cannot be enumerated; one
they can read but not change answers 403.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account, Team
from dockyard.accounts.principal import Principal
from dockyard.accounts.schemas import team_wire
from dockyard.api.authz import forbidden, require_org_member
from dockyard.api.pagination import PageParams, page_params, paginate, set_page_headers
from dockyard.api.routing import AuthenticateFirstRoute
from dockyard.auth.access import namespace_access, repository_access
from dockyard.auth.deps import get_principal, require_principal, services_of
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.bus import notify_committed
from dockyard.repos import service as repos
from dockyard.repos.content import delete_tag as content_delete_tag
from dockyard.repos.listing import list_tag_objects, tag_objects
from dockyard.repos.models import Repository
from dockyard.repos.schemas import Access, CreateRepo, UpdateRepo
from dockyard.rules.permissions import AccessLevel
from dockyard.webhooks import service as webhooks

router = APIRouter(prefix="/api/v0", tags=["repositories"], route_class=AuthenticateFirstRoute)


def _denied(principal: Principal | None, what: str) -> DockyardError:
    if principal is None:
        return DockyardError(ErrorCode.NOT_AUTHENTICATED, f"Sign in to {what}.")
    return forbidden(f"You are not allowed to {what}.")


async def _require_namespace_admin(
    session: AsyncSession, principal: Principal, account: Account, what: str
) -> None:
    if await namespace_access(session, principal, account) < AccessLevel.ADMIN:
        raise _denied(principal, what)


async def _namespace(session: AsyncSession, name: str) -> Account:
    account = await accounts.get_account(session, name)
    if account is None or account.name != name:
        raise DockyardError(ErrorCode.NO_SUCH_ACCOUNT, detail={"namespace": name[:300]})
    return account


async def _repository(
    session: AsyncSession,
    principal: Principal | None,
    namespace: str,
    name: str,
    need: AccessLevel,
    what: str,
) -> tuple[Repository, Account]:
    account = await _namespace(session, namespace)
    repo = await repos.get_repository(session, namespace, name)
    level = AccessLevel.NONE if repo is None else await repository_access(session, principal, repo)
    if repo is None or level < AccessLevel.READ_ONLY:
        # The same answer for "missing" and "private and not yours": a 401/403 would confirm
        # that the name exists.
        raise DockyardError(
            ErrorCode.NO_SUCH_REPOSITORY,
            "The repository does not exist, or you are not allowed to see it"
            + (" (sign in to see private repositories)." if principal is None else "."),
            detail={"repository": f"{namespace}/{name}"[:600]},
        )
    if level < need:
        raise _denied(principal, what)
    return repo, account


def _repo_page(rows: list[tuple[Repository, bool]], params: PageParams) -> JSONResponse:
    page = paginate(rows, lambda row: row[0].full_name, params)
    response = JSONResponse(
        {"repositories": [repos.repository_wire(r, is_org) for r, is_org in page.items]}
    )
    set_page_headers(response, page, params)
    return response


@router.get("/repositories")
async def list_all(
    request: Request,
    params: PageParams = Depends(page_params),
    principal: Principal | None = Depends(get_principal),
) -> JSONResponse:
    async with services_of(request).session() as session:
        rows = await repos.list_repositories(session, principal)
    return _repo_page(rows, params)


@router.get("/repositories/{namespace}")
async def list_namespace(
    request: Request,
    namespace: str,
    params: PageParams = Depends(page_params),
    principal: Principal | None = Depends(get_principal),
) -> JSONResponse:
    async with services_of(request).session() as session:
        account = await _namespace(session, namespace)
        rows = await repos.list_repositories(session, principal, account)
    return _repo_page(rows, params)


@router.post("/repositories/{namespace}", status_code=201)
async def create(
    request: Request,
    namespace: str,
    form: CreateRepo,
    principal: Principal = Depends(require_principal),
) -> JSONResponse:
    async with services_of(request).session() as session:
        account = await _namespace(session, namespace)
        await _require_namespace_admin(
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
        await session.commit()
        body = repos.repository_wire(repo, account.is_org)
    notify_committed()
    return JSONResponse(body, status_code=201)


@router.get("/repositories/{namespace}/{name}")
async def get(
    request: Request,
    namespace: str,
    name: str,
    principal: Principal | None = Depends(get_principal),
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        repo, account = await _repository(
            session, principal, namespace, name, AccessLevel.READ_ONLY, "see this repository"
        )
        return repos.repository_wire(repo, account.is_org)


@router.patch("/repositories/{namespace}/{name}")
async def update(
    request: Request,
    namespace: str,
    name: str,
    form: UpdateRepo,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        repo, account = await _repository(
            session, principal, namespace, name, AccessLevel.ADMIN, "change this repository"
        )
        await repos.update_repository(
            session, repo, account.is_org, principal.name, form.model_dump(exclude_none=True)
        )
        await session.commit()
        body = repos.repository_wire(repo, account.is_org)
    notify_committed()
    return body


@router.delete("/repositories/{namespace}/{name}", status_code=204)
async def delete(
    request: Request,
    namespace: str,
    name: str,
    principal: Principal = Depends(require_principal),
) -> Response:
    async with services_of(request).session() as session:
        repo, _account = await _repository(
            session, principal, namespace, name, AccessLevel.ADMIN, "delete this repository"
        )
        await repos.delete_repository(session, repo, principal.name)
        # Its webhooks go with it, in the same transaction: a repository created later under
        # this name must not inherit them.
        await webhooks.delete_for_repository(session, namespace, name)
        await session.commit()
    notify_committed()
    return Response(status_code=204)


# --- tags --------------------------------------------------------------------------------------


@router.get("/repositories/{namespace}/{name}/tags")
async def list_tags(
    request: Request,
    namespace: str,
    name: str,
    params: PageParams = Depends(page_params),
    principal: Principal | None = Depends(get_principal),
) -> JSONResponse:
    async with services_of(request).session() as session:
        repo, _account = await _repository(
            session, principal, namespace, name, AccessLevel.READ_ONLY, "see this repository"
        )
        tags = await list_tag_objects(session, repo)
    page = paginate(tags, lambda tag: str(tag["name"]), params)
    response = JSONResponse(page.items)
    set_page_headers(response, page, params)
    return response


@router.get("/repositories/{namespace}/{name}/tags/{reference}")
async def get_tag(
    request: Request,
    namespace: str,
    name: str,
    reference: str,
    principal: Principal | None = Depends(get_principal),
) -> JSONResponse:
    async with services_of(request).session() as session:
        repo, _account = await _repository(
            session, principal, namespace, name, AccessLevel.READ_ONLY, "see this repository"
        )
        found = await tag_objects(session, repo, reference)
    if found is None:
        raise DockyardError(ErrorCode.NO_SUCH_REF, detail={"reference": reference[:300]})
    return JSONResponse(found)


@router.delete("/repositories/{namespace}/{name}/tags/{tag}", status_code=204)
async def delete_tag(
    request: Request,
    namespace: str,
    name: str,
    tag: str,
    principal: Principal = Depends(require_principal),
) -> Response:
    services = services_of(request)
    async with services.session() as session:
        repo, _account = await _repository(
            session, principal, namespace, name, AccessLevel.READ_WRITE, "delete tags here"
        )
        await content_delete_tag(session, services.registry_host, repo, tag, principal.name)
        await session.commit()
    notify_committed()
    return Response(status_code=204)


# --- team access on a repository -------------------------------------------------------------


def _grant_wire(level: str, team: Team) -> dict[str, Any]:
    return {"accessLevel": level, "team": team_wire(team, 0)}


async def _org_repository(
    session: AsyncSession, principal: Principal, namespace: str, name: str, what: str
) -> tuple[Repository, Account]:
    repo, account = await _repository(session, principal, namespace, name, AccessLevel.ADMIN, what)
    if not account.is_org:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "Team access applies to repositories of organizations only.",
            detail={"namespace": namespace},
        )
    return repo, account


@router.get("/repositories/{namespace}/{name}/teamAccess")
async def list_repo_team_access(
    request: Request,
    namespace: str,
    name: str,
    params: PageParams = Depends(page_params),
    principal: Principal = Depends(require_principal),
) -> JSONResponse:
    async with services_of(request).session() as session:
        repo, account = await _org_repository(
            session, principal, namespace, name, "see this repository's team access"
        )
        rows = await repos.list_repository_team_access(session, repo)
        body_repo = repos.repository_wire(repo, account.is_org)
    page = paginate(rows, lambda row: row[1].name, params)
    response = JSONResponse(
        {
            "repository": body_repo,
            "teamAccessList": [_grant_wire(g.access_level, t) for g, t in page.items],
        }
    )
    set_page_headers(response, page, params)
    return response


@router.put("/repositories/{namespace}/{name}/teamAccess/{team}")
async def put_repo_team_access(
    request: Request,
    namespace: str,
    name: str,
    team: str,
    form: Access,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        repo, account = await _org_repository(
            session, principal, namespace, name, "grant team access"
        )
        row = await accounts.require_team(session, account, team)
        grant = await repos.set_repository_team_access(session, repo, row, form.accessLevel)
        await session.commit()
        return {
            **_grant_wire(grant.access_level, row),
            "repository": repos.repository_wire(repo, account.is_org),
        }


@router.delete("/repositories/{namespace}/{name}/teamAccess/{team}", status_code=204)
async def delete_repo_team_access(
    request: Request,
    namespace: str,
    name: str,
    team: str,
    principal: Principal = Depends(require_principal),
) -> Response:
    async with services_of(request).session() as session:
        repo, account = await _org_repository(
            session, principal, namespace, name, "revoke team access"
        )
        row = await accounts.require_team(session, account, team)
        await repos.delete_repository_team_access(session, repo, row)
        await session.commit()
    return Response(status_code=204)


# --- team access on a whole namespace --------------------------------------------------------


async def _org_namespace(session: AsyncSession, namespace: str) -> Account:
    account = await _namespace(session, namespace)
    if not account.is_org:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "Team access applies to organizations only.",
            detail={"namespace": namespace},
        )
    return account


def _ns_grant_wire(level: str, team: Team, namespace: Account) -> dict[str, Any]:
    return {**_grant_wire(level, team), "namespace": namespace.name}


@router.get("/repositoryNamespaces/{namespace}/teamAccess")
async def list_namespace_team_access(
    request: Request,
    namespace: str,
    params: PageParams = Depends(page_params),
    principal: Principal = Depends(require_principal),
) -> JSONResponse:
    async with services_of(request).session() as session:
        account = await _org_namespace(session, namespace)
        await require_org_member(session, principal, account)
        rows = await repos.list_namespace_team_access(session, account)
    page = paginate(rows, lambda row: row[1].name, params)
    response = JSONResponse(
        {
            "namespace": account.name,
            "teamAccessList": [_ns_grant_wire(g.access_level, t, account) for g, t in page.items],
        }
    )
    set_page_headers(response, page, params)
    return response


@router.get("/repositoryNamespaces/{namespace}/teamAccess/{team}")
async def get_namespace_team_access(
    request: Request,
    namespace: str,
    team: str,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        account = await _org_namespace(session, namespace)
        await require_org_member(session, principal, account)
        row = await accounts.require_team(session, account, team)
        grant = await repos.get_namespace_team_access(session, account, row)
        if grant is None:
            raise DockyardError(ErrorCode.NO_SUCH_NAMESPACE_TEAM_ACCESS, detail={"team": team})
        return _ns_grant_wire(grant.access_level, row, account)


@router.put("/repositoryNamespaces/{namespace}/teamAccess/{team}")
async def put_namespace_team_access(
    request: Request,
    namespace: str,
    team: str,
    form: Access,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        account = await _org_namespace(session, namespace)
        await _require_namespace_admin(
            session, principal, account, f"grant access to '{namespace}'"
        )
        row = await accounts.require_team(session, account, team)
        grant = await repos.set_namespace_team_access(session, account, row, form.accessLevel)
        await session.commit()
        return _ns_grant_wire(grant.access_level, row, account)


@router.delete("/repositoryNamespaces/{namespace}/teamAccess/{team}", status_code=204)
async def delete_namespace_team_access(
    request: Request,
    namespace: str,
    team: str,
    principal: Principal = Depends(require_principal),
) -> Response:
    async with services_of(request).session() as session:
        account = await _org_namespace(session, namespace)
        await _require_namespace_admin(
            session, principal, account, f"revoke access to '{namespace}'"
        )
        row = await accounts.require_team(session, account, team)
        await repos.delete_namespace_team_access(session, account, row)
        await session.commit()
    return Response(status_code=204)
