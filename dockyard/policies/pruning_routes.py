"""MSR's pruning API: a repository's pruning policies and `POST …/pruningPolicies/test` (the tags
a run would delete), all for admins of the repository. Thin: authorize through `repos.lookups`,
call `policies.pruning_service`, answer; the unit of work commits (a run's TAG_DELETEs are
recorded in it). Bodies are parsed here whatever their content type, so a bad field keeps MSR's
code (INVALID_PRUNING_POLICY).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.principal import Principal
from dockyard.api.bodies import body_doc, json_body
from dockyard.api.responses import errors
from dockyard.api.routing import AuthenticateFirstRoute
from dockyard.api.uow import UnitOfWork
from dockyard.auth.deps import require_principal, services_of
from dockyard.errors import ErrorCode
from dockyard.policies import pruning_service as pruning
from dockyard.policies.pruning_schemas import (
    PrunedTagOut,
    PruningPolicyIn,
    PruningPolicyOut,
    PruningTestIn,
)
from dockyard.repos.lookups import repository_for
from dockyard.repos.models import Repository
from dockyard.rules.permissions import AccessLevel

PREFIX = "/api/v0/repositories/{namespace}/{reponame}/pruningPolicies"
router = APIRouter(tags=["pruning"], route_class=AuthenticateFirstRoute)
Caller = Annotated[Principal, Depends(require_principal)]
Initial = Annotated[
    bool, Query(description="Prune the repository's existing tags with this policy now")
]

_POLICY = Depends(json_body(PruningPolicyIn, ErrorCode.INVALID_PRUNING_POLICY))
_TEST = Depends(json_body(PruningTestIn, ErrorCode.INVALID_PRUNING_POLICY))


async def _admin(
    session: AsyncSession, principal: Principal, namespace: str, reponame: str
) -> Repository:
    repo, _ns = await repository_for(
        session, principal, namespace, reponame, AccessLevel.ADMIN, "manage pruning policies"
    )
    return repo


@router.get(
    PREFIX,
    response_model=list[PruningPolicyOut],
    summary="The repository's pruning policies (admin on the repository)",
    responses=errors(401, 403, 404),
)
async def list_policies(
    session: UnitOfWork, namespace: str, reponame: str, principal: Caller
) -> list[dict[str, Any]]:
    repo = await _admin(session, principal, namespace, reponame)
    return [pruning.wire(p, repo) for p in await pruning.list_policies(session, repo)]


@router.post(
    PREFIX,
    response_model=PruningPolicyOut,
    status_code=201,
    summary="Create a pruning policy (admin on the repository)",
    responses=errors(400, 401, 403, 404),
    openapi_extra=body_doc(PruningPolicyIn),
)
async def create_policy(
    request: Request,
    session: UnitOfWork,
    namespace: str,
    reponame: str,
    principal: Caller,
    body: PruningPolicyIn = _POLICY,
    initialEvaluation: Initial = False,
) -> dict[str, Any]:
    repo = await _admin(session, principal, namespace, reponame)
    policy = await pruning.create_policy(session, repo, body)
    if initialEvaluation:
        await pruning.prune(session, services_of(request).registry_host, repo, [policy])
    return pruning.wire(policy, repo)


@router.post(
    PREFIX + "/test",
    response_model=list[PrunedTagOut],
    summary="The tags a pruning policy with these rules would delete now (nothing is deleted)",
    responses=errors(400, 401, 403, 404),
    openapi_extra=body_doc(PruningTestIn),
)
async def test_policy(
    session: UnitOfWork,
    namespace: str,
    reponame: str,
    principal: Caller,
    body: PruningTestIn = _TEST,
) -> list[dict[str, Any]]:
    repo = await _admin(session, principal, namespace, reponame)
    rules = pruning.check_rules(body.rules)
    doomed = await pruning.doomed_tags(session, repo, [rules])
    return [{"name": item.tag.name, "digest": item.tag.digest} for item in doomed]


@router.get(
    PREFIX + "/{pruningpolicyid}",
    response_model=PruningPolicyOut,
    summary="One pruning policy (admin on the repository)",
    responses=errors(401, 403, 404),
)
async def get_policy(
    session: UnitOfWork, namespace: str, reponame: str, pruningpolicyid: str, principal: Caller
) -> dict[str, Any]:
    repo = await _admin(session, principal, namespace, reponame)
    return pruning.wire(await pruning.get_policy(session, repo, pruningpolicyid), repo)


@router.put(
    PREFIX + "/{pruningpolicyid}",
    response_model=PruningPolicyOut,
    summary="Replace a pruning policy (admin on the repository)",
    responses=errors(400, 401, 403, 404),
    openapi_extra=body_doc(PruningPolicyIn),
)
async def update_policy(
    request: Request,
    session: UnitOfWork,
    namespace: str,
    reponame: str,
    pruningpolicyid: str,
    principal: Caller,
    body: PruningPolicyIn = _POLICY,
    initialEvaluation: Initial = False,
) -> dict[str, Any]:
    repo = await _admin(session, principal, namespace, reponame)
    policy = await pruning.get_policy(session, repo, pruningpolicyid)
    await pruning.update_policy(session, policy, body)
    if initialEvaluation:
        await pruning.prune(session, services_of(request).registry_host, repo, [policy])
    return pruning.wire(policy, repo)


@router.delete(
    PREFIX + "/{pruningpolicyid}",
    status_code=204,
    summary="Delete a pruning policy (success when it does not exist)",
    responses=errors(401, 403, 404),
)
async def delete_policy(
    session: UnitOfWork, namespace: str, reponame: str, pruningpolicyid: str, principal: Caller
) -> Response:
    repo = await _admin(session, principal, namespace, reponame)
    await pruning.delete_policy(session, repo, pruningpolicyid)
    return Response(status_code=204)
