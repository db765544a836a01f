"""eNZi's accounts API at /enzi/v0/accounts: users, organizations, members, teams.

Thin: parse, authorize, call `accounts.service`, shape with `accounts.schemas`.
Who may do what: any signed-in user reads accounts; registry admins create, change and delete
them; a user changes their own name and password; org owners (members with isAdmin) manage
their organization's members and teams; org members see them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account
from dockyard.accounts.principal import Principal
from dockyard.accounts.schemas import (
    ChangePassword,
    CreateAccount,
    CreateTeam,
    Membership,
    UpdateAccount,
    UpdateTeam,
    account_wire,
    member_wire,
    team_wire,
)
from dockyard.api.authz import (
    forbidden,
    is_org_owner,
    require_admin,
    require_org_member,
    require_org_owner,
)
from dockyard.api.pagination import PageParams, enzi_page_params, paginate
from dockyard.api.routing import AuthenticateFirstRoute
from dockyard.auth.deps import current_session_token, require_principal, services_of
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.bus import notify_committed
from dockyard.repos.service import delete_repository, list_repositories
from dockyard.webhooks import service as webhooks

router = APIRouter(
    prefix="/enzi/v0/accounts", tags=["accounts (eNZi)"], route_class=AuthenticateFirstRoute
)


async def _account_body(session: AsyncSession, account: Account) -> dict[str, Any]:
    if account.is_org:
        members, teams = await accounts.org_counts(session, account)
        return account_wire(account, members_count=members, teams_count=teams)
    return account_wire(account)


def _paged(
    key: str, items: list[dict[str, Any]], params: PageParams, extra: dict[str, Any] | None = None
) -> JSONResponse:
    page = paginate(items, lambda item: str(item["_key"]), params)
    for item in page.items:
        item.pop("_key", None)
    body: dict[str, Any] = {key: page.items, "nextPageStart": page.next_start}
    body.update(extra or {})
    headers = {"X-Next-Page-Start": page.next_start} if page.next_start else {}
    headers["X-Resource-Count"] = str(page.total)
    return JSONResponse(body, headers=headers)


@router.get("")
async def list_accounts(
    request: Request,
    filter: str = Query("all", description="users, orgs, admins, non-admins, active-users, all"),
    params: PageParams = Depends(enzi_page_params),
    principal: Principal = Depends(require_principal),
) -> JSONResponse:
    async with services_of(request).session() as session:
        rows = await accounts.list_accounts(session, filter)
        users, orgs = await accounts.count_accounts(session)
        items = [{**await _account_body(session, a), "_key": a.name} for a in rows]
    return _paged(
        "accounts",
        items,
        params,
        {"resourceCount": len(items), "usersCount": users, "orgsCount": orgs},
    )


@router.post("", status_code=201)
async def create_account(
    request: Request, form: CreateAccount, principal: Principal = Depends(require_principal)
) -> JSONResponse:
    require_admin(principal)
    async with services_of(request).session() as session:
        if form.isOrg:
            if form.isAdmin:
                raise DockyardError(
                    ErrorCode.INVALID_PARAMETERS,
                    "Organizations cannot be admins.",
                    detail={"field": "isAdmin"},
                )
            account = await accounts.create_org(session, form.name, full_name=form.fullName)
        else:
            if form.password is None:
                raise DockyardError(
                    ErrorCode.INVALID_PARAMETERS,
                    "password is required for a user.",
                    detail={"field": "password"},
                )
            accounts.validate_password(form.password)
            account = await accounts.create_user(
                session, form.name, form.password, is_admin=form.isAdmin, full_name=form.fullName
            )
            account.is_active = form.isActive
        await session.commit()
        body = await _account_body(session, account)
    return JSONResponse(body, status_code=201)


@router.get("/{name_or_id}")
async def get_account(
    request: Request, name_or_id: str, principal: Principal = Depends(require_principal)
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        account = await accounts.require_account(session, name_or_id)
        return await _account_body(session, account)


@router.patch("/{name_or_id}")
async def update_account(
    request: Request,
    name_or_id: str,
    form: UpdateAccount,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        account = await accounts.require_account(session, name_or_id)
        is_self = account.id == principal.account_id
        if not principal.is_admin:
            if form.isActive is not None or form.isAdmin is not None:
                raise forbidden("Only registry administrators may change isActive and isAdmin.")
            if form.password is not None:
                raise forbidden("Change your password with oldPassword at .../changePassword.")
            if not is_self and not (
                account.is_org and await is_org_owner(session, principal, account)
            ):
                raise forbidden("You may change only your own account.")
        elif is_self and (form.isAdmin is False or form.isActive is False):
            # An admin demoting or deactivating themselves could lock everyone out.
            raise DockyardError(
                ErrorCode.INVALID_PARAMETERS,
                "You cannot remove your own admin rights or deactivate yourself.",
                detail={"field": "isAdmin" if form.isAdmin is False else "isActive"},
            )
        await accounts.update_account(
            session,
            account,
            full_name=form.fullName,
            is_active=form.isActive,
            is_admin=form.isAdmin,
            password=form.password,
        )
        await session.commit()
        return await _account_body(session, account)


@router.api_route("/{name_or_id}/changePassword", methods=["POST", "PUT", "PATCH"])
async def change_password(
    request: Request,
    name_or_id: str,
    form: ChangePassword,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        account = await accounts.require_user(session, name_or_id)
        if account.id == principal.account_id:
            await accounts.change_password(
                session,
                account,
                form.oldPassword,
                form.newPassword,
                keep_session=current_session_token(request),
            )
        elif principal.is_admin:
            await accounts.update_account(session, account, password=form.newPassword)
        else:
            raise forbidden("You may change only your own password.")
        await session.commit()
        return await _account_body(session, account)


@router.delete("/{name_or_id}", status_code=204)
async def delete_account(
    request: Request, name_or_id: str, principal: Principal = Depends(require_principal)
) -> Response:
    require_admin(principal)
    async with services_of(request).session() as session:
        account = await accounts.require_account(session, name_or_id)
        if account.id == principal.account_id:
            raise DockyardError(ErrorCode.INVALID_PARAMETERS, "You cannot delete your own account.")
        # Each repository goes the normal way, so subscribers hear REPO_DELETED for it.
        # (The caller is an admin, so the listing holds every repository of the namespace.)
        for repo, _is_org in await list_repositories(session, principal, account):
            await delete_repository(session, repo, principal.name)
        # The webhooks it authored, and those on its namespace and repositories, go with it.
        await webhooks.delete_for_account(session, account)
        await accounts.delete_account(session, account)
        await session.commit()
    notify_committed()
    return Response(status_code=204)


# --- organization members --------------------------------------------------------------------


@router.get("/{org}/members")
async def list_members(
    request: Request,
    org: str,
    params: PageParams = Depends(enzi_page_params),
    principal: Principal = Depends(require_principal),
) -> JSONResponse:
    async with services_of(request).session() as session:
        account = await accounts.require_org(session, org)
        await require_org_member(session, principal, account)
        rows = await accounts.list_org_members(session, account)
        items = [{**member_wire(m, a), "_key": a.name} for m, a in rows]
    return _paged("members", items, params)


@router.get("/{org}/members/{user}")
async def get_member(
    request: Request, org: str, user: str, principal: Principal = Depends(require_principal)
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        account = await accounts.require_org(session, org)
        await require_org_member(session, principal, account)
        member_account = await accounts.require_user(session, user)
        member = await accounts.get_org_member(session, account, member_account)
        if member is None:
            raise DockyardError(ErrorCode.NO_SUCH_USER, f"'{user}' is not a member of '{org}'.")
        return member_wire(member, member_account)


@router.put("/{org}/members/{user}")
async def put_member(
    request: Request,
    org: str,
    user: str,
    form: Membership | None = None,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        account = await accounts.require_org(session, org)
        await require_org_owner(session, principal, account)
        member_account = await accounts.require_user(session, user)
        member = await accounts.set_org_member(
            session, account, member_account, is_admin=form.isAdmin if form else False
        )
        await session.commit()
        return member_wire(member, member_account)


@router.delete("/{org}/members/{user}", status_code=204)
async def delete_member(
    request: Request, org: str, user: str, principal: Principal = Depends(require_principal)
) -> Response:
    async with services_of(request).session() as session:
        account = await accounts.require_org(session, org)
        member_account = await accounts.require_user(session, user)
        if member_account.id != principal.account_id:
            await require_org_owner(session, principal, account)
        await accounts.remove_org_member(session, account, member_account)
        await session.commit()
    return Response(status_code=204)


# --- teams -----------------------------------------------------------------------------------


@router.get("/{org}/teams")
async def list_teams(
    request: Request,
    org: str,
    params: PageParams = Depends(enzi_page_params),
    principal: Principal = Depends(require_principal),
) -> JSONResponse:
    async with services_of(request).session() as session:
        account = await accounts.require_org(session, org)
        await require_org_member(session, principal, account)
        items = [
            {**team_wire(t, await accounts.team_member_count(session, t)), "_key": t.name}
            for t in await accounts.list_teams(session, account)
        ]
    return _paged("teams", items, params)


@router.post("/{org}/teams", status_code=201)
async def create_team(
    request: Request, org: str, form: CreateTeam, principal: Principal = Depends(require_principal)
) -> JSONResponse:
    async with services_of(request).session() as session:
        account = await accounts.require_org(session, org)
        await require_org_owner(session, principal, account)
        team = await accounts.create_team(session, account, form.name, form.description)
        await session.commit()
        return JSONResponse(team_wire(team, 0), status_code=201)


@router.get("/{org}/teams/{team}")
async def get_team(
    request: Request, org: str, team: str, principal: Principal = Depends(require_principal)
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        account = await accounts.require_org(session, org)
        await require_org_member(session, principal, account)
        row = await accounts.require_team(session, account, team)
        return team_wire(row, await accounts.team_member_count(session, row))


@router.patch("/{org}/teams/{team}")
async def update_team(
    request: Request,
    org: str,
    team: str,
    form: UpdateTeam,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        account = await accounts.require_org(session, org)
        await require_org_owner(session, principal, account)
        row = await accounts.require_team(session, account, team)
        await accounts.update_team(session, row, name=form.name, description=form.description)
        await session.commit()
        return team_wire(row, await accounts.team_member_count(session, row))


@router.delete("/{org}/teams/{team}", status_code=204)
async def delete_team(
    request: Request, org: str, team: str, principal: Principal = Depends(require_principal)
) -> Response:
    async with services_of(request).session() as session:
        account = await accounts.require_org(session, org)
        await require_org_owner(session, principal, account)
        row = await accounts.require_team(session, account, team)
        await accounts.delete_team(session, row)
        await session.commit()
    return Response(status_code=204)


@router.get("/{org}/teams/{team}/members")
async def list_team_members(
    request: Request,
    org: str,
    team: str,
    params: PageParams = Depends(enzi_page_params),
    principal: Principal = Depends(require_principal),
) -> JSONResponse:
    async with services_of(request).session() as session:
        account = await accounts.require_org(session, org)
        await require_org_member(session, principal, account)
        row = await accounts.require_team(session, account, team)
        items = [
            {**member_wire(m, a), "_key": a.name}
            for m, a in await accounts.list_team_members(session, row)
        ]
    return _paged("members", items, params)


@router.get("/{org}/teams/{team}/members/{user}")
async def get_team_member(
    request: Request,
    org: str,
    team: str,
    user: str,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        account = await accounts.require_org(session, org)
        await require_org_member(session, principal, account)
        row = await accounts.require_team(session, account, team)
        member_account = await accounts.require_user(session, user)
        for member, who in await accounts.list_team_members(session, row):
            if who.id == member_account.id:
                return member_wire(member, who)
        raise DockyardError(ErrorCode.NO_SUCH_USER, f"'{user}' is not a member of '{team}'.")


@router.put("/{org}/teams/{team}/members/{user}")
async def put_team_member(
    request: Request,
    org: str,
    team: str,
    user: str,
    form: Membership | None = None,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        account = await accounts.require_org(session, org)
        await require_org_owner(session, principal, account)
        row = await accounts.require_team(session, account, team)
        member_account = await accounts.require_user(session, user)
        member = await accounts.set_team_member(
            session, account, row, member_account, is_admin=form.isAdmin if form else False
        )
        await session.commit()
        return member_wire(member, member_account)


@router.delete("/{org}/teams/{team}/members/{user}", status_code=204)
async def delete_team_member(
    request: Request,
    org: str,
    team: str,
    user: str,
    principal: Principal = Depends(require_principal),
) -> Response:
    async with services_of(request).session() as session:
        account = await accounts.require_org(session, org)
        await require_org_owner(session, principal, account)
        row = await accounts.require_team(session, account, team)
        member_account = await accounts.require_user(session, user)
        await accounts.remove_team_member(session, row, member_account)
        await session.commit()
    return Response(status_code=204)
