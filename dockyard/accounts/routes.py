"""eNZi's accounts API at /enzi/v0/accounts: list, create, read, change, delete accounts and change
a password. Members and teams are in `team_routes`, API tokens in `token_routes`.

Thin: parse (the schemas), authorize (`auth.orgs`), call `accounts.service`, shape the answer.
Who may do what: any signed-in user reads accounts; registry admins create, change and delete
them; a user changes their own name and password; an organization's owners change its name.
The unit of work commits; nothing here commits or wakes anything.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account
from dockyard.accounts.principal import Principal
from dockyard.accounts.schemas import (
    AccountList,
    AccountOut,
    ChangePassword,
    CreateAccount,
    UpdateAccount,
)
from dockyard.api.pagination import (
    Keyset,
    PageParams,
    enzi_page_params,
    keyset_page,
    set_page_headers,
)
from dockyard.api.responses import errors
from dockyard.api.routing import AuthenticateFirstRoute
from dockyard.api.uow import UnitOfWork
from dockyard.auth.deps import current_session_token, require_principal
from dockyard.auth.orgs import forbidden, is_org_owner, require_admin
from dockyard.errors import DockyardError, ErrorCode
from dockyard.repos.service import delete_repository, list_repositories
from dockyard.webhooks import service as webhooks

router = APIRouter(
    prefix="/enzi/v0/accounts", tags=["accounts (eNZi)"], route_class=AuthenticateFirstRoute
)
Caller = Depends(require_principal)
# Signed-in callers only; HTTP Basic may be refused for too many failed logins (429).
AUTH = (401, 429)

# Accounts are listed by name, which is unique: a page starts at a name.
BY_NAME: Keyset[Any] = Keyset(
    columns=(Account.name,), parse=lambda start: (start,), token=lambda row: row[0].name
)


async def _account_out(session: AsyncSession, account: Account) -> AccountOut:
    if account.is_org:
        members, teams = await accounts.org_counts(session, account)
        return AccountOut.of(account, members, teams)
    return AccountOut.of(account)


@router.get(
    "",
    summary="List accounts",
    response_model=AccountList,
    response_model_exclude_none=True,
    responses=errors(400, *AUTH),
)
async def list_accounts(
    response: Response,
    session: UnitOfWork,
    filter: str = Query("all", description="users, orgs, admins, non-admins, active-users, all"),
    params: PageParams = Depends(enzi_page_params),
    principal: Principal = Caller,
) -> AccountList:
    page = await keyset_page(session, accounts.accounts_query(filter), BY_NAME, params)
    users, orgs = await accounts.count_accounts(session)
    set_page_headers(response, page, params)
    return AccountList(
        accounts=[AccountOut.of(account, members, teams) for account, members, teams in page.items],
        nextPageStart=page.next_start,
        resourceCount=page.total,
        usersCount=users,
        orgsCount=orgs,
    )


@router.post(
    "",
    status_code=201,
    summary="Create a user or an organization (admins)",
    response_model=AccountOut,
    response_model_exclude_none=True,
    responses=errors(400, *AUTH, 403, 413),
)
async def create_account(
    form: CreateAccount, session: UnitOfWork, principal: Principal = Caller
) -> AccountOut:
    require_admin(principal)
    if form.isOrg:
        if form.isAdmin:
            raise DockyardError(
                ErrorCode.INVALID_PARAMETERS,
                "Organizations cannot be admins.",
                detail={"field": "isAdmin"},
            )
        account = await accounts.create_org(session, form.name, full_name=form.fullName)
        return AccountOut.of(account)
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
    return AccountOut.of(account)


@router.get(
    "/{name_or_id}",
    summary="Read an account",
    response_model=AccountOut,
    response_model_exclude_none=True,
    responses=errors(*AUTH, 404),
)
async def get_account(name_or_id: str, session: UnitOfWork, principal: Principal = Caller) -> Any:
    return await _account_out(session, await accounts.require_account(session, name_or_id))


async def _check_update(
    session: AsyncSession, principal: Principal, account: Account, form: UpdateAccount
) -> None:
    """Who may change which field: admins anything but their own admin rights and activity;
    others their own name, or an organization's owners its name."""
    is_self = account.id == principal.account_id
    if not principal.is_admin:
        if form.isActive is not None or form.isAdmin is not None:
            raise forbidden("Only registry administrators may change isActive and isAdmin.")
        if form.password is not None:
            raise forbidden("Change your password with oldPassword at .../changePassword.")
        if not is_self and not (account.is_org and await is_org_owner(session, principal, account)):
            raise forbidden("You may change only your own account.")
    elif is_self and (form.isAdmin is False or form.isActive is False):
        # An admin demoting or deactivating themselves could lock everyone out.
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "You cannot remove your own admin rights or deactivate yourself.",
            detail={"field": "isAdmin" if form.isAdmin is False else "isActive"},
        )


@router.patch(
    "/{name_or_id}",
    summary="Change an account",
    response_model=AccountOut,
    response_model_exclude_none=True,
    responses=errors(400, *AUTH, 403, 404, 413),
)
async def update_account(
    name_or_id: str, form: UpdateAccount, session: UnitOfWork, principal: Principal = Caller
) -> Any:
    account = await accounts.require_account(session, name_or_id)
    await _check_update(session, principal, account, form)
    await accounts.update_account(
        session,
        account,
        full_name=form.fullName,
        is_active=form.isActive,
        is_admin=form.isAdmin,
        password=form.password,
    )
    return await _account_out(session, account)


_CHANGE_PASSWORD: dict[str, Any] = {
    "summary": "Change a user's password (their own with the old one; admins anyone's)",
    "response_model": AccountOut,
    "response_model_exclude_none": True,
    "responses": errors(400, *AUTH, 403, 404, 413),
}


# eNZi takes POST, PUT and PATCH alike: one operation each, so each has its own operation id.
@router.post("/{name_or_id}/changePassword", operation_id="change_password", **_CHANGE_PASSWORD)
@router.put("/{name_or_id}/changePassword", operation_id="change_password_put", **_CHANGE_PASSWORD)
@router.patch(
    "/{name_or_id}/changePassword", operation_id="change_password_patch", **_CHANGE_PASSWORD
)
async def change_password(
    request: Request,
    name_or_id: str,
    form: ChangePassword,
    session: UnitOfWork,
    principal: Principal = Caller,
) -> Any:
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
    return await _account_out(session, account)


@router.delete(
    "/{name_or_id}",
    status_code=204,
    summary="Delete an account with its repositories and webhooks (admins)",
    response_class=Response,
    responses=errors(400, *AUTH, 403, 404),
)
async def delete_account(
    name_or_id: str, session: UnitOfWork, principal: Principal = Caller
) -> None:
    require_admin(principal)
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
