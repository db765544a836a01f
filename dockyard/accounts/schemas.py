"""Wire shapes of the accounts API: eNZi's `/enzi/v0/accounts` objects and MSR's API tokens.

Field names are the public contract (camelCase, as eNZi and MSR spell them). Forms are strict
(a string where a boolean belongs is a 400, not a silent conversion) and ignore unknown
fields, because real clients (Terraform, Harbor) send extras. Answers are built from domain
objects here (`…Out.of(...)`); no HTTP and no database access here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dockyard.accounts.models import Account, ApiToken, OrgMember, Team, TeamMember
from dockyard.clock import rfc3339


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class Form(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class CreateAccount(Form):
    model_config = _examples(
        {"name": "grace", "password": "a-long-secret", "fullName": "Grace Hopper"},
        {"name": "acme", "isOrg": True, "fullName": "Acme Inc."},
    )

    name: str = Field(min_length=1, max_length=255)
    password: str | None = Field(default=None, max_length=1024)
    fullName: str = Field(default="", max_length=255)
    isOrg: bool = False
    isAdmin: bool = False
    isActive: bool = True
    searchLDAP: bool = False


class UpdateAccount(Form):
    model_config = _examples({"fullName": "Grace Brewster Hopper"}, {"isActive": False})

    fullName: str | None = Field(default=None, max_length=255)
    isActive: bool | None = None
    isAdmin: bool | None = None
    password: str | None = Field(default=None, max_length=1024)


class ChangePassword(Form):
    model_config = _examples({"oldPassword": "a-long-secret", "newPassword": "another-secret"})

    oldPassword: str = Field(default="", max_length=1024)
    newPassword: str = Field(max_length=1024)


class Membership(Form):
    model_config = _examples({"isAdmin": False})

    isAdmin: bool = False


class CreateTeam(Form):
    model_config = _examples({"name": "developers", "description": "Push to acme/*"})

    name: str = Field(min_length=1, max_length=255)
    description: str = Field(default="", max_length=10000)


class UpdateTeam(Form):
    model_config = _examples({"description": "Push and pull acme/*"})

    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10000)


class CreateToken(Form):
    model_config = _examples({"tokenLabel": "ci"})

    tokenLabel: str = Field(default="", max_length=255)


class UpdateToken(Form):
    model_config = _examples({"isActive": False}, {"tokenLabel": "ci (old)"})

    isActive: bool | None = None
    tokenLabel: str | None = Field(default=None, max_length=255)


# --- answers ---------------------------------------------------------------------------------

_USER_EXAMPLE: dict[str, Any] = {
    "id": "5b0b2f5e-4a8c-4c5e-9d3e-0a1b2c3d4e5f",
    "name": "grace",
    "fullName": "Grace Hopper",
    "isOrg": False,
    "isAdmin": False,
    "isActive": True,
    "isImported": False,
    "onDemand": False,
    "otpEnabled": False,
}
_ORG_EXAMPLE: dict[str, Any] = {
    **_USER_EXAMPLE,
    "id": "9c1d2e3f-0a1b-4c5d-8e9f-a0b1c2d3e4f5",
    "name": "acme",
    "fullName": "Acme Inc.",
    "isOrg": True,
    "membersCount": 3,
    "teamsCount": 1,
}
_TEAM_EXAMPLE: dict[str, Any] = {
    "id": "0f1e2d3c-4b5a-4968-8776-655443322110",
    "name": "developers",
    "description": "Push to acme/*",
    "orgID": _ORG_EXAMPLE["id"],
    "membersCount": 2,
}
_MEMBER_EXAMPLE: dict[str, Any] = {"isAdmin": False, "isPublic": True, "member": _USER_EXAMPLE}
_TOKEN_EXAMPLE: dict[str, Any] = {
    "hashedToken": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "tokenLabel": "ci",
    "isActive": True,
    "lastUsed": "0001-01-01T00:00:00Z",
    "createdAt": "2026-01-02T03:04:05.123456Z",
    "generatedBy": "grace",
    "creatorUa": "curl/8.5.0",
    "username": "grace",
}


class AccountOut(BaseModel):
    """A user or an organization (organizations also carry their member and team counts;
    users omit those fields)."""

    model_config = _examples(_USER_EXAMPLE, _ORG_EXAMPLE)

    id: str
    name: str
    fullName: str
    isOrg: bool
    isAdmin: bool
    isActive: bool
    isImported: bool = False
    onDemand: bool = False
    otpEnabled: bool = False
    membersCount: int | None = Field(default=None, description="Organizations only.")
    teamsCount: int | None = Field(default=None, description="Organizations only.")

    @classmethod
    def of(cls, account: Account, members_count: int = 0, teams_count: int = 0) -> AccountOut:
        return cls(
            id=account.id,
            name=account.name,
            fullName=account.full_name,
            isOrg=account.is_org,
            isAdmin=account.is_admin,
            isActive=account.is_active,
            membersCount=members_count if account.is_org else None,
            teamsCount=teams_count if account.is_org else None,
        )


class AccountList(BaseModel):
    model_config = _examples(
        {
            "accounts": [_USER_EXAMPLE, _ORG_EXAMPLE],
            "nextPageStart": "",
            "resourceCount": 2,
            "usersCount": 1,
            "orgsCount": 1,
        }
    )

    accounts: list[AccountOut]
    nextPageStart: str = Field(description="Start of the next page; empty on the last one.")
    resourceCount: int = Field(description="Accounts matching the filter, on every page.")
    usersCount: int = Field(description="Users in the registry.")
    orgsCount: int = Field(description="Organizations in the registry.")


class MemberOut(BaseModel):
    """A member of an organization or a team (`isAdmin`: an owner of the organization)."""

    model_config = _examples(_MEMBER_EXAMPLE)

    isAdmin: bool
    isPublic: bool = True
    member: AccountOut

    @classmethod
    def of(cls, member: OrgMember | TeamMember, account: Account) -> MemberOut:
        return cls(isAdmin=member.is_admin, member=AccountOut.of(account))


class MemberList(BaseModel):
    model_config = _examples({"members": [_MEMBER_EXAMPLE], "nextPageStart": ""})

    members: list[MemberOut]
    nextPageStart: str = Field(description="Start of the next page; empty on the last one.")


class TeamOut(BaseModel):
    model_config = _examples(_TEAM_EXAMPLE)

    id: str
    name: str
    description: str
    orgID: str
    membersCount: int

    @classmethod
    def of(cls, team: Team, members_count: int) -> TeamOut:
        return cls(
            id=team.id,
            name=team.name,
            description=team.description,
            orgID=team.org_id,
            membersCount=members_count,
        )


class TeamList(BaseModel):
    model_config = _examples({"teams": [_TEAM_EXAMPLE], "nextPageStart": ""})

    teams: list[TeamOut]
    nextPageStart: str = Field(description="Start of the next page; empty on the last one.")


class TokenOut(BaseModel):
    """An API token as listed: never the token itself (only its hash is kept)."""

    model_config = _examples(_TOKEN_EXAMPLE)

    hashedToken: str
    tokenLabel: str
    isActive: bool
    lastUsed: str = Field(description="RFC 3339; Go's zero time when never used.")
    createdAt: str
    generatedBy: str
    creatorUa: str
    # dockyard extension: whose token it is (admins list everyone's).
    username: str

    @classmethod
    def of(cls, token: ApiToken, owner: Account) -> TokenOut:
        return cls(
            hashedToken=token.hashed_token,
            tokenLabel=token.label,
            isActive=token.is_active,
            lastUsed=rfc3339(token.last_used),
            createdAt=rfc3339(token.created_at),
            generatedBy=token.generated_by,
            creatorUa=token.creator_ua,
            username=owner.name,
        )


class NewToken(TokenOut):
    """A token just created: the only answer that carries the token itself."""

    model_config = _examples({**_TOKEN_EXAMPLE, "token": "kX3v…the token, shown once"})

    token: str

    @classmethod
    def created(cls, token: ApiToken, owner: Account, plaintext: str) -> NewToken:
        return cls(**TokenOut.of(token, owner).model_dump(), token=plaintext)


def team_wire(team: Team, members_count: int) -> dict[str, Any]:
    """A team as the repositories API embeds it in its team-access answers."""
    return TeamOut.of(team, members_count).model_dump()
