"""Accounts: users and organizations, sign-in checks, the first administrator.

Takes a session and never commits: the caller's unit of work does (a flush where an id is
needed). Authorization is the caller's job. No HTTP here.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account, ApiToken, OrgMember, Team
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


# eNZi addresses an account by id as `id:<uuid>` wherever it takes a name (a name never holds a
# colon, so the prefix cannot shadow one).
ID_PREFIX = "id:"


async def get_account(session: AsyncSession, name_or_id: str) -> Account | None:
    """An account by name, by `id:<uuid>` (eNZi's form) or by its bare id."""
    if name_or_id.startswith(ID_PREFIX):
        return await session.get(Account, name_or_id[len(ID_PREFIX) :])
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
        return _token_principal(token, account)
    if account.password_hash and await verify_password_async(account.password_hash, secret):
        return Principal(account.id, account.name, account.is_admin)
    return None


async def authenticate_token(session: AsyncSession, secret: str) -> Principal | None:
    """An API token alone (DTR's `?refresh_token=`, the OAuth2 refresh grant): the active user it
    belongs to; None when it is unknown, turned off or its user is deactivated."""
    if not secret:
        return None
    token = await session.get(ApiToken, hash_token(secret))
    if token is None or not token.is_active:
        return None
    account = await session.get(Account, token.account_id)
    if account is None or account.is_org or not account.is_active:
        return None
    return _token_principal(token, account)


def _token_principal(token: ApiToken, account: Account) -> Principal:
    now = utcnow()
    # lastUsed to the minute is enough; do not turn every registry request into a write.
    if token.last_used is None or (now - token.last_used).total_seconds() > 60:
        # The caller commits (its session is dirty only when this changed).
        token.last_used = now
    return Principal(account.id, account.name, account.is_admin, token.hashed_token)


async def ensure_admin(session: AsyncSession, password: str | None) -> str | None:
    """On a registry with no users, create `admin`. Returns the password when it was generated.

    The caller commits."""
    count = await session.scalar(
        select(func.count()).select_from(Account).where(Account.is_org.is_(False))
    )
    if count:
        return None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(18)
    await create_user(session, "admin", password, is_admin=True, full_name="Administrator")
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


def accounts_query(account_filter: str = "all") -> Select[Account, int, int]:
    """Accounts matching an eNZi filter, each with its member and team counts (zero for users),
    unordered: the caller orders and pages (by name)."""
    members = (
        select(func.count())
        .select_from(OrgMember)
        .where(OrgMember.org_id == Account.id)
        .correlate(Account)
        .scalar_subquery()
    )
    teams = (
        select(func.count())
        .select_from(Team)
        .where(Team.org_id == Account.id)
        .correlate(Account)
        .scalar_subquery()
    )
    stmt = select(Account, members.label("members_count"), teams.label("teams_count"))
    if account_filter not in ACCOUNT_FILTERS:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            f"filter must be one of {', '.join(ACCOUNT_FILTERS)}.",
            detail={"field": "filter", "value": account_filter},
        )
    return stmt.where(*_FILTERS[account_filter])


_USER = Account.is_org.is_(False)
_FILTERS: dict[str, tuple[ColumnElement[bool], ...]] = {
    "all": (),
    "users": (_USER,),
    "orgs": (Account.is_org.is_(True),),
    "admins": (_USER, Account.is_admin.is_(True)),
    "non-admins": (_USER, Account.is_admin.is_(False)),
    "active-users": (_USER, Account.is_active.is_(True)),
}


async def list_accounts(session: AsyncSession, account_filter: str = "all") -> list[Account]:
    stmt = accounts_query(account_filter).order_by(Account.name)
    return [account for account, _members, _teams in await session.execute(stmt)]


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
