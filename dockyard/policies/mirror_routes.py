"""MSR's mirroring API: push and poll mirroring policies of a repository (admin on it), the
generic mirroring policy list, a manual push mirroring of a tag, and `POST /api/v0/jobs
{"action": "poll_mirror" | "tag_pruning"}` (registry admins). Thin: authorize, call
`policies.mirror_service` (or `pruning_service` for `tag_pruning`),
answer; the unit of work commits. Bodies are parsed here (whatever their content type, as MSR
scripts send them) so a bad field answers with MSR's code, never 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.principal import Principal
from dockyard.api.bodies import body_doc, json_body
from dockyard.api.responses import errors
from dockyard.api.routing import AuthenticateFirstRoute
from dockyard.api.uow import UnitOfWork
from dockyard.auth.deps import require_principal, services_of
from dockyard.auth.orgs import require_admin
from dockyard.errors import DockyardError, ErrorCode
from dockyard.policies import mirror_service as mirrors
from dockyard.policies import pruning_service as pruning
from dockyard.policies.credentials import Vault
from dockyard.policies.mirror_schemas import (
    JobIn,
    JobOut,
    ManualMirroringIn,
    MirroringOut,
    MirroringPolicyOut,
    PolicyId,
    PollMirroringPolicyIn,
    PollMirroringPolicyOut,
    PushMirroringPolicyIn,
    PushMirroringPolicyOut,
)
from dockyard.repos.lookups import repository_for
from dockyard.repos.models import Repository
from dockyard.rules.permissions import AccessLevel

PREFIX = "/api/v0/repositories/{namespace}/{reponame}"
router = APIRouter(tags=["mirroring"], route_class=AuthenticateFirstRoute)
Caller = Annotated[Principal, Depends(require_principal)]
Initial = Annotated[bool, Query(description="Evaluate the existing tags now (push mirroring)")]


_PUSH = Depends(json_body(PushMirroringPolicyIn, ErrorCode.INVALID_PUSH_MIRRORING_POLICY))
_POLL = Depends(json_body(PollMirroringPolicyIn, ErrorCode.INVALID_POLL_MIRRORING_POLICY))
_MANUAL = Depends(json_body(ManualMirroringIn, ErrorCode.INVALID_PUSH_MIRRORING_POLICY))
_JOB = Depends(json_body(JobIn, ErrorCode.INVALID_PARAMETERS))


async def _admin_repo(
    session: AsyncSession, principal: Principal, namespace: str, reponame: str
) -> Repository:
    repo, _ns = await repository_for(
        session, principal, namespace, reponame, AccessLevel.ADMIN, "manage mirroring policies"
    )
    return repo


def _local(namespace: str, reponame: str) -> str:
    return f"{namespace}/{reponame}"


@router.get(
    PREFIX + "/pushMirroringPolicies",
    response_model=list[PushMirroringPolicyOut],
    summary="The repository's push mirroring policies (admins of it)",
    responses=errors(401, 403, 404),
)
async def list_push(
    session: UnitOfWork, namespace: str, reponame: str, principal: Caller
) -> list[dict[str, Any]]:
    repo = await _admin_repo(session, principal, namespace, reponame)
    local = _local(namespace, reponame)
    return [
        mirrors.policy_wire(p, local) for p in await mirrors.list_policies(session, repo, "push")
    ]


@router.post(
    PREFIX + "/pushMirroringPolicies",
    status_code=201,
    response_model=PushMirroringPolicyOut,
    summary="Mirror the tags that meet the rules to a remote registry",
    responses=errors(400, 401, 403, 404),
    openapi_extra=body_doc(PushMirroringPolicyIn),
)
async def create_push(
    request: Request,
    session: UnitOfWork,
    namespace: str,
    reponame: str,
    principal: Caller,
    body: Annotated[PushMirroringPolicyIn, _PUSH],
    initialEvaluation: Initial = True,
) -> dict[str, Any]:
    repo = await _admin_repo(session, principal, namespace, reponame)
    cipher = Vault.from_settings(services_of(request).settings)
    policy = await mirrors.create_policy(session, repo, "push", body, cipher)
    if initialEvaluation:
        await mirrors.evaluate_now(session, repo, policy)
    return mirrors.policy_wire(policy, _local(namespace, reponame))


@router.get(
    PREFIX + "/pollMirroringPolicies",
    response_model=list[PollMirroringPolicyOut],
    summary="The repository's poll mirroring policies (admins of it)",
    responses=errors(401, 403, 404),
)
async def list_poll(
    session: UnitOfWork, namespace: str, reponame: str, principal: Caller
) -> list[dict[str, Any]]:
    repo = await _admin_repo(session, principal, namespace, reponame)
    local = _local(namespace, reponame)
    return [
        mirrors.policy_wire(p, local) for p in await mirrors.list_policies(session, repo, "poll")
    ]


@router.post(
    PREFIX + "/pollMirroringPolicies",
    status_code=201,
    response_model=PollMirroringPolicyOut,
    summary="Pull every tag of a remote repository in, periodically",
    responses=errors(400, 401, 403, 404),
    openapi_extra=body_doc(PollMirroringPolicyIn),
)
async def create_poll(
    request: Request,
    session: UnitOfWork,
    namespace: str,
    reponame: str,
    principal: Caller,
    body: Annotated[PollMirroringPolicyIn, _POLL],
    initialEvaluation: Initial = True,
) -> dict[str, Any]:
    repo = await _admin_repo(session, principal, namespace, reponame)
    cipher = Vault.from_settings(services_of(request).settings)
    policy = await mirrors.create_policy(session, repo, "poll", body, cipher)
    if initialEvaluation:
        await mirrors.evaluate_now(session, repo, policy)
    return mirrors.policy_wire(policy, _local(namespace, reponame))


def _one(kind: str) -> None:
    path = PREFIX + f"/{kind}MirroringPolicies/{{policyid}}"
    out = PushMirroringPolicyOut if kind == "push" else PollMirroringPolicyOut
    inp = PushMirroringPolicyIn if kind == "push" else PollMirroringPolicyIn
    dep = _PUSH if kind == "push" else _POLL

    @router.get(
        path,
        response_model=out,
        summary=f"One {kind} mirroring policy",
        responses=errors(401, 403, 404),
        name=f"get_{kind}_mirroring_policy",
    )
    async def get_one(
        session: UnitOfWork, namespace: str, reponame: str, policyid: str, principal: Caller
    ) -> dict[str, Any]:
        repo = await _admin_repo(session, principal, namespace, reponame)
        policy = await mirrors.get_policy(session, repo, policyid, kind)
        return mirrors.policy_wire(policy, _local(namespace, reponame))

    @router.put(
        path,
        response_model=out,
        summary=f"Replace a {kind} mirroring policy",
        responses=errors(400, 401, 403, 404),
        openapi_extra=body_doc(inp),
        name=f"update_{kind}_mirroring_policy",
    )
    async def update_one(
        request: Request,
        session: UnitOfWork,
        namespace: str,
        reponame: str,
        policyid: str,
        principal: Caller,
        body: Any = dep,
        initialEvaluation: Initial = True,
    ) -> dict[str, Any]:
        repo = await _admin_repo(session, principal, namespace, reponame)
        policy = await mirrors.get_policy(session, repo, policyid, kind)
        cipher = Vault.from_settings(services_of(request).settings)
        await mirrors.update_policy(session, policy, body, cipher)
        if initialEvaluation:
            await mirrors.evaluate_now(session, repo, policy)
        return mirrors.policy_wire(policy, _local(namespace, reponame))

    @router.delete(
        path,
        status_code=204,
        summary=f"Delete a {kind} mirroring policy",
        responses=errors(401, 403, 404),
        name=f"delete_{kind}_mirroring_policy",
    )
    async def delete_one(
        session: UnitOfWork, namespace: str, reponame: str, policyid: str, principal: Caller
    ) -> Response:
        repo = await _admin_repo(session, principal, namespace, reponame)
        await mirrors.delete_policies(session, repo, [policyid], kind)
        return Response(status_code=204)


_one("push")
_one("poll")


@router.get(
    PREFIX + "/mirroringPolicies",
    response_model=list[MirroringPolicyOut],
    summary="Every mirroring policy of the repository, push and poll",
    responses=errors(401, 403, 404),
)
async def list_all(
    session: UnitOfWork, namespace: str, reponame: str, principal: Caller
) -> list[dict[str, Any]]:
    repo = await _admin_repo(session, principal, namespace, reponame)
    local = _local(namespace, reponame)
    return [mirrors.policy_wire(p, local, True) for p in await mirrors.list_policies(session, repo)]


@router.delete(
    PREFIX + "/mirroringPolicies",
    status_code=204,
    summary="Delete the listed mirroring policies (push or poll)",
    responses=errors(400, 401, 403, 404),
)
async def delete_many(
    session: UnitOfWork,
    namespace: str,
    reponame: str,
    principal: Caller,
    ids: Annotated[
        list[PolicyId], Body(examples=[[{"id": "7f0c2b9e-4c1e-4d0a-9a51-0b3f4b6c8d21"}]])
    ],
) -> Response:
    repo = await _admin_repo(session, principal, namespace, reponame)
    await mirrors.delete_policies(session, repo, [i.id for i in ids[:1000]])
    return Response(status_code=204)


@router.post(
    PREFIX + "/tags/{tag}/pushMirroring",
    status_code=201,
    response_model=MirroringOut,
    summary="Push one tag to a remote registry now (admins of the repository)",
    responses=errors(400, 401, 403, 404),
    openapi_extra=body_doc(ManualMirroringIn),
)
async def push_now(
    request: Request,
    session: UnitOfWork,
    namespace: str,
    reponame: str,
    tag: str,
    principal: Caller,
    body: Annotated[ManualMirroringIn, _MANUAL],
) -> dict[str, Any]:
    repo = await _admin_repo(session, principal, namespace, reponame)
    target = mirrors.manual_target(body, Vault.from_settings(services_of(request).settings))
    job = await mirrors.manual_push(session, repo, tag, body.remoteTag or tag, target)
    return {
        "id": job.id,
        "localRepository": _local(namespace, reponame),
        "tag": tag,
        "remoteHost": target["remoteHost"],
        "remoteRepository": target["remoteRepository"],
        "remoteTag": job.remote_tag,
    }


@router.post(
    "/api/v0/jobs",
    status_code=202,
    response_model=JobOut,
    summary="Run a job now: poll_mirror, tag_pruning (registry admins)",
    responses=errors(400, 401, 403),
    openapi_extra=body_doc(JobIn),
)
async def run_job(
    request: Request, session: UnitOfWork, principal: Caller, body: Annotated[JobIn, _JOB]
) -> dict[str, Any]:
    require_admin(principal)
    if body.action == "tag_pruning":
        # Every enabled pruning policy, in this request (each repository's run is bounded).
        deleted = await pruning.prune_all(session, services_of(request).registry_host)
        return {"id": f"tag_pruning-{deleted}", "action": "tag_pruning", "status": "done"}
    if body.action != "poll_mirror":
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS, "action must be poll_mirror or tag_pruning"
        )
    count = await mirrors.enqueue_polls(session)
    return {"id": f"poll_mirror-{count}", "action": "poll_mirror", "status": "waiting"}
