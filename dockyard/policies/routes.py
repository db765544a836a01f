"""MSR's promotion API: promotion policies of a repository (admin on the source and on the
target), and a manual promotion of a tag (read on the source, write on the target). Thin:
authorize through `auth.access` (`repos.lookups`), call `policies.service`/`engine`, answer; the
unit of work commits (the promotion's events are recorded in it). Bodies are parsed here whatever
their content type (MSR scripts send `curl -d` without one), so a bad field keeps MSR's code.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.principal import Principal
from dockyard.api.bodies import body_doc, json_body
from dockyard.api.responses import errors
from dockyard.api.routing import AuthenticateFirstRoute
from dockyard.api.uow import UnitOfWork
from dockyard.auth.deps import require_principal, services_of
from dockyard.errors import DockyardError, ErrorCode
from dockyard.policies import engine
from dockyard.policies import service as promotions
from dockyard.policies.schemas import (
    PromotionIn,
    PromotionOut,
    PromotionPolicyIn,
    PromotionPolicyOut,
)
from dockyard.repos.lookups import repository_for
from dockyard.repos.models import Repository, Tag
from dockyard.rules.permissions import AccessLevel

PREFIX = "/api/v0/repositories/{namespace}/{reponame}"
INITIAL_EVALUATION_TAGS = 1000
router = APIRouter(tags=["promotion"], route_class=AuthenticateFirstRoute)
Caller = Annotated[Principal, Depends(require_principal)]
Initial = Annotated[bool, Query(description="Evaluate the source's existing tags now")]


_POLICY = Depends(json_body(PromotionPolicyIn, ErrorCode.INVALID_PROMOTION_POLICY))
_PROMOTION = Depends(json_body(PromotionIn, ErrorCode.INVALID_PARAMETERS))


async def _named(
    session: AsyncSession, principal: Principal, full_name: str, need: AccessLevel, what: str
) -> Repository:
    namespace, _, name = full_name.strip().strip("/").partition("/")
    if not namespace or not name or "/" in name:
        raise DockyardError(
            ErrorCode.INVALID_PROMOTION_POLICY,
            "targetRepository must be 'namespace/repository'",
            detail={"targetRepository": full_name[:300]},
        )
    repo, _ns = await repository_for(session, principal, namespace, name, need, what)
    return repo


async def _admin(
    session: AsyncSession, principal: Principal, namespace: str, reponame: str
) -> Repository:
    what = "manage promotion policies"
    repo, _ns = await repository_for(
        session, principal, namespace, reponame, AccessLevel.ADMIN, what
    )
    return repo


@router.get(
    PREFIX + "/promotionPolicies",
    response_model=list[PromotionPolicyOut],
    summary="Promotion policies whose source (or, with source=false, target) is the repository",
    responses=errors(401, 403, 404),
)
async def list_policies(
    session: UnitOfWork,
    namespace: str,
    reponame: str,
    principal: Caller,
    source: Annotated[bool, Query(description="true: as the source; false: as the target")] = True,
) -> list[dict[str, Any]]:
    repo, _ns = await repository_for(
        session, principal, namespace, reponame, AccessLevel.READ_ONLY, "see this repository"
    )
    policies = await promotions.list_policies(session, repo, source=source)
    return [await promotions.wire(session, p) for p in policies]


@router.post(
    PREFIX + "/promotionPolicies",
    response_model=PromotionPolicyOut,
    status_code=201,
    summary="Create a promotion policy (admin on the source and the target)",
    responses=errors(400, 401, 403, 404),
    openapi_extra=body_doc(PromotionPolicyIn),
)
async def create_policy(
    request: Request,
    session: UnitOfWork,
    namespace: str,
    reponame: str,
    principal: Caller,
    body: PromotionPolicyIn = _POLICY,
    initialEvaluation: Initial = True,
) -> dict[str, Any]:
    source = await _admin(session, principal, namespace, reponame)
    target = await _named(
        session, principal, body.targetRepository, AccessLevel.ADMIN, "promote into it"
    )
    policy = await promotions.create_policy(session, source, target, body)
    if initialEvaluation and policy.enabled:
        host = services_of(request).settings.registry_host
        await engine.initial_evaluation(session, host, policy, source, INITIAL_EVALUATION_TAGS)
    return await promotions.wire(session, policy)


@router.get(
    PREFIX + "/promotionPolicies/{promotionpolicyid}",
    response_model=PromotionPolicyOut,
    summary="One promotion policy",
    responses=errors(401, 403, 404),
)
async def get_policy(
    session: UnitOfWork, namespace: str, reponame: str, promotionpolicyid: str, principal: Caller
) -> dict[str, Any]:
    repo, _ns = await repository_for(
        session, principal, namespace, reponame, AccessLevel.READ_ONLY, "see this repository"
    )
    return await promotions.wire(
        session, await promotions.get_policy(session, repo, promotionpolicyid)
    )


@router.put(
    PREFIX + "/promotionPolicies/{promotionpolicyid}",
    response_model=PromotionPolicyOut,
    summary="Replace a promotion policy (admin on the source and the target)",
    responses=errors(400, 401, 403, 404),
    openapi_extra=body_doc(PromotionPolicyIn),
)
async def update_policy(
    request: Request,
    session: UnitOfWork,
    namespace: str,
    reponame: str,
    promotionpolicyid: str,
    principal: Caller,
    body: PromotionPolicyIn = _POLICY,
    initialEvaluation: Initial = True,
) -> dict[str, Any]:
    source = await _admin(session, principal, namespace, reponame)
    policy = await promotions.get_policy(session, source, promotionpolicyid)
    if policy.source_repository_id != source.id:
        raise DockyardError(ErrorCode.NO_SUCH_PROMOTION_POLICY, detail={"id": policy.id})
    target = await _named(
        session, principal, body.targetRepository, AccessLevel.ADMIN, "promote into it"
    )
    await promotions.update_policy(session, policy, source, target, body)
    if initialEvaluation and policy.enabled:
        host = services_of(request).settings.registry_host
        await engine.initial_evaluation(session, host, policy, source, INITIAL_EVALUATION_TAGS)
    return await promotions.wire(session, policy)


@router.delete(
    PREFIX + "/promotionPolicies/{promotionpolicyid}",
    status_code=204,
    summary="Delete a promotion policy (success when it does not exist)",
    responses=errors(401, 403, 404),
)
async def delete_policy(
    session: UnitOfWork, namespace: str, reponame: str, promotionpolicyid: str, principal: Caller
) -> Response:
    source = await _admin(session, principal, namespace, reponame)
    await promotions.delete_policy(session, source, promotionpolicyid)
    return Response(status_code=204)


@router.post(
    PREFIX + "/tags/{tag}/promotion",
    response_model=PromotionOut,
    status_code=201,
    summary="Promote a tag now (read on the source, write on the target)",
    responses=errors(400, 401, 403, 404),
    openapi_extra=body_doc(PromotionIn),
)
async def promote_tag(
    request: Request,
    session: UnitOfWork,
    namespace: str,
    reponame: str,
    tag: str,
    principal: Caller,
    body: PromotionIn = _PROMOTION,
) -> dict[str, Any]:
    source, _ns = await repository_for(
        session, principal, namespace, reponame, AccessLevel.READ_ONLY, "see this repository"
    )
    row = await session.scalar(select(Tag).where(Tag.repository_id == source.id, Tag.name == tag))
    if row is None:
        raise DockyardError(ErrorCode.NO_SUCH_TAG, detail={"tag": tag[:200]})
    target = await _named(
        session, principal, body.targetRepository, AccessLevel.READ_WRITE, "push to it"
    )
    host = services_of(request).settings.registry_host
    author = principal.name
    promotion = await engine.promote(
        session, host, source, row, target, body.targetTag, author=author
    )
    return promotion.wire()
