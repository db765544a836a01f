"""Account logic: users, organizations, members, teams, API tokens; authentication; bootstrap.

Takes a session; the caller commits. Authorization is the caller's job. No HTTP here.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account, ApiToken, OrgMember, Team, TeamMember
from dockyard.accounts.passwords import hash_password_async, verify_password_async
from dockyard.accounts.principal import Principal
from dockyard.accounts.sessions import end_sessions
from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode

# A namespace is one path component of an image name (distribution-spec), and MSR account
# names are lowercase.
ACCOUNT_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


def validate_account_name(name: str) -> None:
    if not (1 <= len(name) <= 255) or not ACCOUNT_NAME_RE.fullmatch(name):
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "Account names use lowercase letters, digits and single separators (. _ -).",
            detail={"field": "name", "value": name},
        )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def get_account(session: AsyncSession, name_or_id: str) -> Account | None:
    row = await session.scalar(select(Account).where(Account.name == name_or_id))
    if row is None:
        row = await session.get(Account, name_or_id)
    return row


async def create_user(
    session: AsyncSession,
    name: str,
    password: str,
    *,
    is_admin: bool = False,
    full_name: str = "",
) -> Account:
    validate_account_name(name)
    if await session.scalar(select(Account.id).where(Account.name == name)):
        raise DockyardError(ErrorCode.ACCOUNT_EXISTS)
    account = Account(
        name=name,
        full_name=full_name,
        is_admin=is_admin,
        is_org=False,
        password_hash=await hash_password_async(password),
    )
    session.add(account)
    await session.flush()
    return account


async def authenticate(session: AsyncSession, name: str, secret: str) -> Principal | None:
    """A password or an API token, for the named user; None when neither matches.

    The token is tried first: it is one indexed lookup, while a wrong password costs a full
    argon2 verification, and clients using a token send it on every request.
    """
    account = await session.scalar(select(Account).where(Account.name == name))
    if account is None or account.is_org or not account.is_active:
        return None
    token = await session.get(ApiToken, hash_token(secret))
    if token is not None and token.is_active and token.account_id == account.id:
        now = utcnow()
        # lastUsed to the minute is enough; do not turn every registry request into a write.
        if token.last_used is None or (now - token.last_used).total_seconds() > 60:
            token.last_used = now
            await session.commit()
        return Principal(account.id, account.name, account.is_admin, token.hashed_token)
    if account.password_hash and await verify_password_async(account.password_hash, secret):
        return Principal(account.id, account.name, account.is_admin)
    return None


async def ensure_admin(session: AsyncSession, password: str | None) -> str | None:
    """On a registry with no users, create `admin`. Returns the password when it was generated."""
    count = await session.scalar(
        select(func.count()).select_from(Account).where(Account.is_org.is_(False))
    )
    if count:
        return None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(18)
    await create_user(session, "admin", password, is_admin=True, full_name="Administrator")
    await session.commit()
    return generated


# --- accounts --------------------------------------------------------------------------------

ACCOUNT_FILTERS = ("all", "users", "orgs", "admins", "non-admins", "active-users")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def validate_password(password: str, field: str = "password") -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            f"Passwords have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters.",
            detail={"field": field},
        )


async def require_account(session: AsyncSession, name_or_id: str) -> Account:
    account = await get_account(session, name_or_id)
    if account is None:
        raise DockyardError(ErrorCode.NO_SUCH_ACCOUNT, detail={"account": name_or_id})
    return account


async def require_org(session: AsyncSession, name_or_id: str) -> Account:
    account = await require_account(session, name_or_id)
    if not account.is_org:
        raise DockyardError(
            ErrorCode.NO_SUCH_ACCOUNT,
            f"'{account.name}' is a user, not an organization.",
            detail={"account": name_or_id},
        )
    return account


async def require_user(session: AsyncSession, name_or_id: str) -> Account:
    account = await get_account(session, name_or_id)
    if account is None or account.is_org:
        raise DockyardError(ErrorCode.NO_SUCH_USER, detail={"user": name_or_id})
    return account


async def list_accounts(session: AsyncSession, account_filter: str = "all") -> list[Account]:
    stmt = select(Account).order_by(Account.name)
    if account_filter == "users":
        stmt = stmt.where(Account.is_org.is_(False))
    elif account_filter == "orgs":
        stmt = stmt.where(Account.is_org.is_(True))
    elif account_filter == "admins":
        stmt = stmt.where(Account.is_org.is_(False), Account.is_admin.is_(True))
    elif account_filter == "non-admins":
        stmt = stmt.where(Account.is_org.is_(False), Account.is_admin.is_(False))
    elif account_filter == "active-users":
        stmt = stmt.where(Account.is_org.is_(False), Account.is_active.is_(True))
    elif account_filter != "all":
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            f"filter must be one of {', '.join(ACCOUNT_FILTERS)}.",
            detail={"field": "filter", "value": account_filter},
        )
    return list(await session.scalars(stmt))


async def count_accounts(session: AsyncSession) -> tuple[int, int]:
    """(users, organizations)."""
    rows = await session.execute(select(Account.is_org, func.count()).group_by(Account.is_org))
    counts = {bool(is_org): int(n) for is_org, n in rows}
    return counts.get(False, 0), counts.get(True, 0)


async def create_org(session: AsyncSession, name: str, *, full_name: str = "") -> Account:
    validate_account_name(name)
    if await session.scalar(select(Account.id).where(Account.name == name)):
        raise DockyardError(ErrorCode.ACCOUNT_EXISTS, detail={"name": name})
    org = Account(name=name, full_name=full_name, is_org=True, is_admin=False, is_active=True)
    session.add(org)
    await session.flush()
    return org


async def update_account(
    session: AsyncSession,
    account: Account,
    *,
    full_name: str | None = None,
    is_active: bool | None = None,
    is_admin: bool | None = None,
    password: str | None = None,
) -> Account:
    """Change an account. Authorization (who may change which field) is the caller's job."""
    if full_name is not None:
        account.full_name = full_name
    if account.is_org and (is_admin or password is not None):
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "Organizations have no password and cannot be admins.",
            detail={"field": "isAdmin" if is_admin else "password"},
        )
    if is_active is not None:
        account.is_active = is_active
    if is_admin is not None:
        account.is_admin = is_admin
    if password is not None:
        validate_password(password)
        account.password_hash = await hash_password_async(password)
        # Set by someone else (an admin): every web session of the account ends.
        await end_sessions(session, account.id)
    await session.flush()
    return account


async def change_password(
    session: AsyncSession,
    account: Account,
    old_password: str,
    new_password: str,
    keep_session: str | None = None,
) -> None:
    """The user's own change: their other web sessions end (`keep_session`, the one they
    made the change from, stays signed in)."""
    current = account.password_hash
    if not current or not await verify_password_async(current, old_password):
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "The old password is wrong.",
            detail={"field": "oldPassword"},
        )
    validate_password(new_password, "newPassword")
    account.password_hash = await hash_password_async(new_password)
    await end_sessions(session, account.id, keep=keep_session)
    await session.flush()


async def delete_account(session: AsyncSession, account: Account) -> None:
    await session.delete(account)
    await session.flush()


# --- organization members --------------------------------------------------------------------


async def list_org_members(session: AsyncSession, org: Account) -> list[tuple[OrgMember, Account]]:
    rows = await session.execute(
        select(OrgMember, Account)
        .join(Account, Account.id == OrgMember.user_id)
        .where(OrgMember.org_id == org.id)
        .order_by(Account.name)
    )
    return [(member, account) for member, account in rows.tuples()]


async def get_org_member(session: AsyncSession, org: Account, user: Account) -> OrgMember | None:
    return await session.get(OrgMember, (org.id, user.id))


async def set_org_member(
    session: AsyncSession, org: Account, user: Account, *, is_admin: bool
) -> OrgMember:
    """Add a user to an organization, or change whether they own it."""
    if user.is_org:
        raise DockyardError(ErrorCode.NO_SUCH_USER, f"'{user.name}' is an organization.")
    member = await get_org_member(session, org, user)
    if member is None:
        member = OrgMember(org_id=org.id, user_id=user.id, is_admin=is_admin)
        session.add(member)
    else:
        member.is_admin = is_admin
    await session.flush()
    return member


async def remove_org_member(session: AsyncSession, org: Account, user: Account) -> None:
    member = await get_org_member(session, org, user)
    if member is None:
        raise DockyardError(
            ErrorCode.NO_SUCH_USER, f"'{user.name}' is not a member of '{org.name}'."
        )
    # Leaving an organization also leaves its teams: team grants must not outlive membership.
    team_ids = select(Team.id).where(Team.org_id == org.id)
    await session.execute(
        delete(TeamMember).where(TeamMember.user_id == user.id, TeamMember.team_id.in_(team_ids))
    )
    await session.delete(member)
    await session.flush()


async def org_counts(session: AsyncSession, org: Account) -> tuple[int, int]:
    """(members, teams) of an organization."""
    members = await session.scalar(
        select(func.count()).select_from(OrgMember).where(OrgMember.org_id == org.id)
    )
    teams = await session.scalar(
        select(func.count()).select_from(Team).where(Team.org_id == org.id)
    )
    return int(members or 0), int(teams or 0)


# --- teams -----------------------------------------------------------------------------------


async def list_teams(session: AsyncSession, org: Account) -> list[Team]:
    return list(
        await session.scalars(select(Team).where(Team.org_id == org.id).order_by(Team.name))
    )


async def get_team(session: AsyncSession, org: Account, name_or_id: str) -> Team | None:
    team: Team | None = await session.scalar(
        select(Team).where(Team.org_id == org.id, Team.name == name_or_id)
    )
    if team is None:
        team = await session.scalar(
            select(Team).where(Team.org_id == org.id, Team.id == name_or_id)
        )
    return team


async def require_team(session: AsyncSession, org: Account, name_or_id: str) -> Team:
    team = await get_team(session, org, name_or_id)
    if team is None:
        raise DockyardError(
            ErrorCode.NO_SUCH_TEAM, detail={"organization": org.name, "team": name_or_id}
        )
    return team


async def create_team(
    session: AsyncSession, org: Account, name: str, description: str = ""
) -> Team:
    validate_account_name(name)
    if await get_team(session, org, name) is not None:
        raise DockyardError(ErrorCode.TEAM_EXISTS, detail={"name": name})
    team = Team(org_id=org.id, name=name, description=description)
    session.add(team)
    await session.flush()
    return team


async def update_team(
    session: AsyncSession, team: Team, *, name: str | None = None, description: str | None = None
) -> Team:
    if name is not None and name != team.name:
        validate_account_name(name)
        clash = await session.scalar(
            select(Team.id).where(Team.org_id == team.org_id, Team.name == name)
        )
        if clash:
            raise DockyardError(ErrorCode.TEAM_EXISTS, detail={"name": name})
        team.name = name
    if description is not None:
        team.description = description
    await session.flush()
    return team


async def delete_team(session: AsyncSession, team: Team) -> None:
    await session.delete(team)
    await session.flush()


async def team_member_count(session: AsyncSession, team: Team) -> int:
    n = await session.scalar(
        select(func.count()).select_from(TeamMember).where(TeamMember.team_id == team.id)
    )
    return int(n or 0)


async def list_team_members(session: AsyncSession, team: Team) -> list[tuple[TeamMember, Account]]:
    rows = await session.execute(
        select(TeamMember, Account)
        .join(Account, Account.id == TeamMember.user_id)
        .where(TeamMember.team_id == team.id)
        .order_by(Account.name)
    )
    return [(member, account) for member, account in rows.tuples()]


async def set_team_member(
    session: AsyncSession, org: Account, team: Team, user: Account, *, is_admin: bool = False
) -> TeamMember:
    """Add a user to a team (and to the team's organization, as eNZi does)."""
    if user.is_org:
        raise DockyardError(ErrorCode.NO_SUCH_USER, f"'{user.name}' is an organization.")
    if await get_org_member(session, org, user) is None:
        session.add(OrgMember(org_id=org.id, user_id=user.id, is_admin=False))
    member = await session.get(TeamMember, (team.id, user.id))
    if member is None:
        member = TeamMember(team_id=team.id, user_id=user.id, is_admin=is_admin)
        session.add(member)
    else:
        member.is_admin = is_admin
    await session.flush()
    return member


async def remove_team_member(session: AsyncSession, team: Team, user: Account) -> None:
    member = await session.get(TeamMember, (team.id, user.id))
    if member is None:
        raise DockyardError(
            ErrorCode.NO_SUCH_USER, f"'{user.name}' is not a member of team '{team.name}'."
        )
    await session.delete(member)
    await session.flush()


# --- API tokens ------------------------------------------------------------------------------

TOKEN_LABEL_MAX = 255


async def create_token(
    session: AsyncSession,
    account: Account,
    *,
    label: str = "",
    generated_by: str = "",
    creator_ua: str = "",
) -> tuple[ApiToken, str]:
    """A new API token; returns the row and the token itself, which is never stored."""
    if account.is_org:
        raise DockyardError(ErrorCode.NO_SUCH_USER, f"'{account.name}' is an organization.")
    if len(label) > TOKEN_LABEL_MAX:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            f"tokenLabel has at most {TOKEN_LABEL_MAX} characters.",
            detail={"field": "tokenLabel"},
        )
    plaintext = secrets.token_urlsafe(32)
    token = ApiToken(
        hashed_token=hash_token(plaintext),
        account_id=account.id,
        label=label,
        is_active=True,
        generated_by=generated_by,
        creator_ua=creator_ua[:512],
        created_at=utcnow(),
    )
    session.add(token)
    await session.flush()
    return token, plaintext


async def list_tokens(
    session: AsyncSession, account: Account | None
) -> list[tuple[ApiToken, Account]]:
    stmt = (
        select(ApiToken, Account)
        .join(Account, Account.id == ApiToken.account_id)
        .order_by(ApiToken.created_at, ApiToken.hashed_token)
    )
    if account is not None:
        stmt = stmt.where(ApiToken.account_id == account.id)
    rows = await session.execute(stmt)
    return [(token, owner) for token, owner in rows.tuples()]


async def get_token(session: AsyncSession, hashed: str) -> tuple[ApiToken, Account] | None:
    token = await session.get(ApiToken, hashed)
    if token is None:
        return None
    owner = await session.get(Account, token.account_id)
    if owner is None:
        return None
    return token, owner


async def update_token(
    session: AsyncSession, token: ApiToken, *, is_active: bool | None, label: str | None
) -> ApiToken:
    if label is not None:
        if len(label) > TOKEN_LABEL_MAX:
            raise DockyardError(
                ErrorCode.INVALID_PARAMETERS,
                f"tokenLabel has at most {TOKEN_LABEL_MAX} characters.",
                detail={"field": "tokenLabel"},
            )
        token.label = label
    if is_active is not None:
        token.is_active = is_active
    await session.flush()
    return token


async def delete_token(session: AsyncSession, token: ApiToken) -> None:
    await session.delete(token)
    await session.flush()
