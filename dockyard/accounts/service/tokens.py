"""MSR API tokens: create (the token itself is returned once, only its hash is stored), list,
change, delete.

Takes a session and never commits: the caller's unit of work does. Whose tokens a caller may
manage is the caller's job. No HTTP here.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account, ApiToken
from dockyard.accounts.service.accounts import hash_token
from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode

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


def tokens_query(account: Account | None) -> Select[ApiToken, Account]:
    """Tokens with their owners (one account's, or everyone's), unordered: the caller orders by
    (createdAt, hashedToken)."""
    stmt = select(ApiToken, Account).join(Account, Account.id == ApiToken.account_id)
    if account is not None:
        stmt = stmt.where(ApiToken.account_id == account.id)
    return stmt


async def list_tokens(
    session: AsyncSession, account: Account | None
) -> list[tuple[ApiToken, Account]]:
    stmt = tokens_query(account).order_by(ApiToken.created_at, ApiToken.hashed_token)
    return [(token, owner) for token, owner in await session.execute(stmt)]


async def count_tokens(session: AsyncSession, account: Account | None) -> int:
    stmt = select(func.count()).select_from(ApiToken)
    if account is not None:
        stmt = stmt.where(ApiToken.account_id == account.id)
    return int(await session.scalar(stmt) or 0)


async def token_page_start(
    session: AsyncSession, account: Account | None, start: str
) -> tuple[datetime, str] | None:
    """Where a token page that starts at `start` begins, in the list's (createdAt, hashedToken)
    order: that token, or when it is gone, the first token in list order whose hash sorts at or
    after it (as the listing always answered); None when there is none."""
    base = select(ApiToken.created_at, ApiToken.hashed_token)
    if account is not None:
        base = base.where(ApiToken.account_id == account.id)
    exact = (await session.execute(base.where(ApiToken.hashed_token == start))).first()
    if exact is None:
        exact = (
            await session.execute(
                base.where(ApiToken.hashed_token >= start)
                .order_by(ApiToken.created_at, ApiToken.hashed_token)
                .limit(1)
            )
        ).first()
    return None if exact is None else (exact[0], exact[1])


async def delete_tokens(
    session: AsyncSession,
    account: Account,
    *,
    generated_by: str = "",
    used_before: datetime | None = None,
) -> list[tuple[ApiToken, Account]]:
    """MSR's mass cleanup: the account's tokens made by `generated_by` (any when empty) and not
    used since `used_before` (any when None; a never-used token counts as not used). Returns
    the tokens deleted."""
    deleted: list[tuple[ApiToken, Account]] = []
    for token, owner in await list_tokens(session, account):
        if generated_by and token.generated_by != generated_by:
            continue
        used = token.last_used
        if used_before is not None and used is not None and used >= used_before:
            continue
        await session.delete(token)
        deleted.append((token, owner))
    await session.flush()
    return deleted


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
