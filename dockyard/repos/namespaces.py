"""Which namespaces a principal holds an access level on, as one SQL statement for listings.

The filter is the namespace rule of `rules.permissions` rendered in SQL (`namespace_access_filter`)
over the facts this module builds from the account, membership and team-grant tables, so a list
and `auth.access.namespace_access` cannot disagree. No HTTP here; nothing is decided here.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, select, true

from dockyard.accounts.models import Account, OrgMember, TeamMember
from dockyard.accounts.principal import Principal
from dockyard.repos.models import NamespaceTeamAccess
from dockyard.rules.permissions import AccessLevel, NamespaceFactsSQL, namespace_access_filter


def _namespace_facts(principal: Principal) -> NamespaceFactsSQL:
    """The principal's facts about each `Account` row (a namespace), as SQL."""
    if principal.is_admin:
        return NamespaceFactsSQL(is_registry_admin=true())
    me = principal.account_id
    member_orgs = select(OrgMember.org_id).where(OrgMember.user_id == me)
    owned_orgs = member_orgs.where(OrgMember.is_admin.is_(True))
    my_teams = select(TeamMember.team_id).where(TeamMember.user_id == me)

    def team_level_in(levels: tuple[str, ...]) -> ColumnElement[bool]:
        granted = select(NamespaceTeamAccess.namespace_id).where(
            NamespaceTeamAccess.team_id.in_(my_teams),
            NamespaceTeamAccess.access_level.in_(levels),
        )
        # Team grants count for members of the organization only (as `auth.access` gathers them).
        return Account.id.in_(granted) & Account.id.in_(member_orgs)

    return NamespaceFactsSQL(
        owns_namespace=Account.id == me,
        is_org_owner=Account.id.in_(owned_orgs),
        team_level_in=team_level_in,
    )


def namespaces_with_access(principal: Principal, need: AccessLevel) -> Select[Account]:
    """The namespaces (users and organizations) on which `principal` holds `need`, unordered.
    (A registry bearer token's cap is not applied: the pages and APIs take no such token.)"""
    return select(Account).where(namespace_access_filter(_namespace_facts(principal), need))
