"""Account logic: create users, authenticate a password or API token, bootstrap the first admin."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account, ApiToken
from dockyard.accounts.passwords import hash_password, verify_password
from dockyard.accounts.principal import Principal
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
        password_hash=hash_password(password),
    )
    session.add(account)
    await session.flush()
    return account


async def authenticate(session: AsyncSession, name: str, secret: str) -> Principal | None:
    """A password or an API token, for the named user; None when neither matches."""
    account = await session.scalar(select(Account).where(Account.name == name))
    if account is None or account.is_org or not account.is_active:
        return None
    if account.password_hash and verify_password(account.password_hash, secret):
        return Principal(account.id, account.name, account.is_admin)
    token = await session.get(ApiToken, hash_token(secret))
    if token is not None and token.is_active and token.account_id == account.id:
        token.last_used = utcnow()
        await session.commit()
        return Principal(account.id, account.name, account.is_admin, token.hashed_token)
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
