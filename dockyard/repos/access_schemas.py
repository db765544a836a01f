"""Wire shapes of the access views on the accounts side of MSR's API: a team's repository grants
(`responses.ListTeamRepoAccess`: `team`, `repositoryAccessList` of {`accessLevel`, `repository`})
and one user's level on one repository (`responses.RepoUserAccess`: `accessLevel`, `user`,
`repository`). Field names are MSR's, a contract. No HTTP, no database here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from dockyard.accounts.schemas import AccountOut, TeamOut
from dockyard.repos.schemas import RepositoryOut

_LEVELS = "read-only, read-write or admin"
_LEVEL_VALUES: list[JsonValue] = ["read-only", "read-write", "admin"]


def _first_example(model: type[BaseModel]) -> Any:
    extra = model.model_config.get("json_schema_extra")
    assert isinstance(extra, dict)
    examples = extra["examples"]
    assert isinstance(examples, list)
    return examples[0]


_REPO = _first_example(RepositoryOut)
_TEAM = _first_example(TeamOut)
_USER = _first_example(AccountOut)


def _examples(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class RepositoryAccessOut(BaseModel):
    model_config = _examples({"accessLevel": "read-write", "repository": _REPO})

    accessLevel: str = Field(description=_LEVELS, json_schema_extra={"enum": _LEVEL_VALUES})
    repository: RepositoryOut


class TeamRepositoryAccessList(BaseModel):
    """The repositories a team is granted, one page of them (`X-Next-Page-Start` for more)."""

    model_config = _examples(
        {
            "team": _TEAM,
            "repositoryAccessList": [{"accessLevel": "read-write", "repository": _REPO}],
        }
    )

    team: TeamOut
    repositoryAccessList: list[RepositoryAccessOut]


class UserRepositoryAccessOut(BaseModel):
    model_config = _examples({"accessLevel": "read-only", "user": _USER, "repository": _REPO})

    accessLevel: str = Field(
        description=f"{_LEVELS}; empty when the user has none",
        json_schema_extra={"enum": ["", *_LEVEL_VALUES]},
    )
    user: AccountOut
    repository: RepositoryOut
