"""Wire shapes of the accounts API: eNZi's `/enzi/v0/accounts` objects and MSR's API tokens.

Field names are the public contract (camelCase, as eNZi and MSR spell them). Forms are strict
(a string where a boolean belongs is a 400, not a silent conversion) and ignore unknown
fields, because real clients (Terraform, Harbor) send extras.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dockyard.accounts.models import Account, ApiToken, OrgMember, Team, TeamMember
from dockyard.clock import rfc3339


class Form(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class CreateAccount(Form):
    name: str = Field(min_length=1, max_length=255)
    password: str | None = Field(default=None, max_length=1024)
    fullName: str = Field(default="", max_length=255)
    isOrg: bool = False
    isAdmin: bool = False
    isActive: bool = True
    searchLDAP: bool = False


class UpdateAccount(Form):
    fullName: str | None = Field(default=None, max_length=255)
    isActive: bool | None = None
    isAdmin: bool | None = None
    password: str | None = Field(default=None, max_length=1024)


class ChangePassword(Form):
    oldPassword: str = Field(default="", max_length=1024)
    newPassword: str = Field(max_length=1024)


class Membership(Form):
    isAdmin: bool = False


class CreateTeam(Form):
    name: str = Field(min_length=1, max_length=255)
    description: str = Field(default="", max_length=10000)


class UpdateTeam(Form):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10000)


class CreateToken(Form):
    tokenLabel: str = Field(default="", max_length=255)


class UpdateToken(Form):
    isActive: bool | None = None
    tokenLabel: str | None = Field(default=None, max_length=255)


def account_wire(
    account: Account, *, members_count: int | None = None, teams_count: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": account.id,
        "name": account.name,
        "fullName": account.full_name,
        "isOrg": account.is_org,
        "isAdmin": account.is_admin,
        "isActive": account.is_active,
        "isImported": False,
        "onDemand": False,
        "otpEnabled": False,
    }
    if account.is_org:
        body["membersCount"] = members_count or 0
        body["teamsCount"] = teams_count or 0
    return body


def member_wire(member: OrgMember | TeamMember, account: Account) -> dict[str, Any]:
    return {"isAdmin": member.is_admin, "isPublic": True, "member": account_wire(account)}


def team_wire(team: Team, members_count: int) -> dict[str, Any]:
    return {
        "id": team.id,
        "name": team.name,
        "description": team.description,
        "orgID": team.org_id,
        "membersCount": members_count,
    }


def token_wire(token: ApiToken, owner: Account, plaintext: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hashedToken": token.hashed_token,
        "tokenLabel": token.label,
        "isActive": token.is_active,
        "lastUsed": rfc3339(token.last_used),
        "createdAt": rfc3339(token.created_at),
        "generatedBy": token.generated_by,
        "creatorUa": token.creator_ua,
        # dockyard extension: whose token it is (admins list everyone's).
        "username": owner.name,
    }
    if plaintext is not None:
        body["token"] = plaintext
    return body
