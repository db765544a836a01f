"""A team's repository grants, seen from the team's side (MSR's
`GET /api/v0/accounts/{org}/teams/{team}/repositoryAccess`): the grants with their repositories.

The repository side (`repos.service.repository_team_access`) lists a repository's teams; this lists
a team's repositories. Takes a session, never commits; authorization is the caller's. No HTTP.
"""

from __future__ import annotations

from sqlalchemy import Select, select

from dockyard.accounts.models import Team
from dockyard.repos.models import Repository, RepositoryTeamAccess


def team_repository_access(team: Team) -> Select[RepositoryTeamAccess, Repository]:
    """The grants a team holds, with their repositories (unordered: the caller pages by the
    repository's name, unique here since a team is granted only its organization's
    repositories)."""
    return (
        select(RepositoryTeamAccess, Repository)
        .join(Repository, Repository.id == RepositoryTeamAccess.repository_id)
        .where(RepositoryTeamAccess.team_id == team.id)
    )
