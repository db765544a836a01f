"""Resolve `/v2/<namespace>/<repository>` for a request: validate the name, authenticate, find
(or, for a push, create) the repository, and check the access level the operation needs.

Answers as the distribution spec wants: anonymous 401 (with a challenge), a repository the
caller cannot see 404 NAME_UNKNOWN, a visible one they may not change 403 DENIED. A registry
bearer token that lacks the scope a request needs gets 401 (the challenge then names the scope
and `error="insufficient_scope"`, as Distribution's token access controller answers) whenever
its holder can see the repository: a client asks for a wider token and retries.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account
from dockyard.accounts.principal import Principal
from dockyard.accounts.service import ACCOUNT_NAME_RE
from dockyard.api.uow import unit_of_work_scope
from dockyard.auth.access import namespace_access, repository_access
from dockyard.auth.deps import get_principal, services_of
from dockyard.errors import DockyardError, ErrorCode
from dockyard.meta import service as meta_settings
from dockyard.registry.preload import adopt
from dockyard.repos.models import Repository
from dockyard.repos.service import (
    REPOSITORY_NAME_RE,
    RESERVED_REPOSITORY_NAMES,
    create_repository,
)
from dockyard.rules.permissions import (
    AccessFacts,
    AccessLevel,
    level_cap,
    resolve_repository_access,
)
from dockyard.services import Services


@dataclass
class RepoContext:
    services: Services
    principal: Principal | None
    repository: Repository
    level: AccessLevel

    @property
    def author(self) -> str:
        return self.principal.name if self.principal is not None else ""

    @property
    def name(self) -> str:
        return self.repository.full_name


NAME_SHAPE = "repository names are namespace/repository"


def validate_name(namespace: str, name: str) -> None:
    if (
        len(namespace) > 255
        or len(name) > 255
        or not ACCOUNT_NAME_RE.fullmatch(namespace)
        or not REPOSITORY_NAME_RE.fullmatch(name)
    ):
        raise DockyardError(
            ErrorCode.NAME_INVALID,
            f"invalid repository name {f'{namespace}/{name}'[:300]!r}: {NAME_SHAPE}, each "
            "of lowercase letters, digits and single separators (., _, -)",
            detail={"name": f"{namespace}/{name}"[:600]},
        )


def _name_unknown(namespace: str, name: str) -> DockyardError:
    return DockyardError(ErrorCode.NAME_UNKNOWN, detail={"name": f"{namespace}/{name}"})


def _unauthorized() -> DockyardError:
    return DockyardError(ErrorCode.UNAUTHORIZED, "authentication required")


def insufficient_scope(full_name: str, *, account_may: bool = True) -> DockyardError:
    """401 for a bearer token that lacks the scope; the error handler adds the challenge.
    `account_may`: whether a new token would help (else the account itself may only pull)."""
    message = (
        f"the bearer token does not grant what this request needs on {full_name!r}: "
        "request a token for the scope named in the WWW-Authenticate header"
        if account_may
        else f"you may pull from {full_name!r} but not change it"
    )
    return DockyardError(ErrorCode.UNAUTHORIZED, message, detail={"name": full_name})


def _unrestricted(principal: Principal) -> Principal:
    """The account behind a bearer token, with its own permissions in full."""
    return dataclasses.replace(principal, scopes=None)


async def token_lacks_scope(
    session: AsyncSession, principal: Principal | None, repository: Repository, need: AccessLevel
) -> DockyardError | None:
    """The 401 for a `principal` whose bearer token does not reach `need` on `repository`
    while its account can see it (as Distribution answers: the client may ask for a wider
    token), else None. An account that cannot see the repository gets the hidden-repository
    404 instead, token or not."""
    if principal is None or principal.scopes is None:
        return None
    actions = principal.actions_for(repository.full_name) or frozenset()
    if level_cap(actions) >= need:
        return None
    own = await repository_access(session, _unrestricted(principal), repository)
    if own < AccessLevel.READ_ONLY:
        return None
    return insufficient_scope(repository.full_name, account_may=own >= need)


def settled_access(
    principal: Principal | None,
    full_name: str,
    namespace_id: str,
    namespace_is_org: bool,
    public: bool,
) -> AccessLevel | None:
    """`auth.access.repository_access` (token scopes included) decided from what the pull's
    one SELECT returned, without a session; None when it needs the database: the member and
    team facts of an organization's namespace, unless the caller's token settles it. A test
    compares both over every kind of case: change them together."""
    actions = principal.actions_for(full_name) if principal is not None else None
    cap = AccessLevel.ADMIN if actions is None else level_cap(actions)
    if principal is None:
        facts = AccessFacts(repository_public=public)
    elif principal.is_admin:
        facts = AccessFacts(authenticated=True, is_registry_admin=True, repository_public=public)
    elif namespace_id == principal.account_id:
        facts = AccessFacts(authenticated=True, owns_namespace=True, repository_public=public)
    elif not namespace_is_org:
        facts = AccessFacts(authenticated=True, repository_public=public)
    else:
        # Team grants only raise the level above what visibility gives; a token that caps it
        # at or below that floor decides without them.
        floor = AccessLevel.READ_ONLY if public else AccessLevel.NONE
        return cap if cap <= floor else None
    return min(resolve_repository_access(facts), cap)


async def _creatable_namespace(
    session: AsyncSession, principal: Principal, namespace: str, name: str
) -> Account:
    """The namespace account in which `principal` may create `name`, or the spec's error."""
    account = await session.scalar(select(Account).where(Account.name == namespace))
    if account is None:
        raise DockyardError(
            ErrorCode.NAME_UNKNOWN,
            f"namespace {namespace!r} does not exist: push to an existing user or "
            "organization (repository names are namespace/repository)",
            detail={"name": f"{namespace}/{name}", "namespace": namespace},
        )
    # The account's own namespace rights decide creation; a bearer token must also name
    # the repository with `push` (else 401: the client asks for that scope and retries).
    if await namespace_access(session, _unrestricted(principal), account) < AccessLevel.ADMIN:
        raise _name_unknown(namespace, name)
    actions = principal.actions_for(f"{namespace}/{name}")
    if actions is not None and not actions & {"push", "*"}:
        raise insufficient_scope(f"{namespace}/{name}")
    return account


async def _auto_create(services: Services, principal: Principal, namespace: str, name: str) -> None:
    """Create the repository in its own short unit of work (parallel layer uploads race here);
    its REPO_CREATED event wakes the consumers when that unit of work commits."""
    if name in RESERVED_REPOSITORY_NAMES:
        raise DockyardError(ErrorCode.NAME_INVALID, f"{name!r} is a reserved repository name")
    try:
        async with unit_of_work_scope(services) as session:
            # Read at each creation: an admin turning it off refuses the next push at once.
            if not await meta_settings.create_repository_on_push(session, services.settings):
                raise DockyardError(
                    ErrorCode.NAME_UNKNOWN,
                    f"repository {namespace}/{name} does not exist and this registry does not "
                    "create repositories on push (createRepositoryOnPush is off): create it "
                    f"first (POST /api/v0/repositories/{namespace})",
                    detail={"name": f"{namespace}/{name}"},
                )
            account = await _creatable_namespace(session, principal, namespace, name)
            try:
                await create_repository(session, account, name, principal.name)
            except DockyardError as exc:
                if exc.code is not ErrorCode.REPOSITORY_EXISTS:
                    raise DockyardError(ErrorCode.NAME_INVALID, exc.message) from exc
    except IntegrityError:
        pass  # someone else created it first (the unit of work rolled back): fine


async def _repository_with_namespace(
    session: AsyncSession, namespace: str, name: str
) -> Repository | None:
    """One query for the repository and its namespace account: the account lands in the
    session's identity map, so `repository_access` finds it without another round trip."""
    row = (
        await session.execute(
            select(Repository, Account)
            .join(Account, Account.id == Repository.namespace_id)
            .where(Repository.namespace == namespace, Repository.name == name)
        )
    ).first()
    if row is None:
        return None
    # The identity map holds objects weakly: without this reference the account would be
    # collected on return and `repository_access` would load it again.
    session.info["namespace_account"] = row[1]
    return row[0]


async def open_repository(
    request: Request,
    session: AsyncSession,
    namespace: str,
    name: str,
    need: AccessLevel,
    *,
    create: bool = False,
    preloaded: Repository | None = None,
) -> RepoContext:
    """The repository and the caller's access, or the spec's error for why not.

    `preloaded`: the repository with its namespace account in `session.info` (registry/
    preload.py fetches both with what the request reads, in one query), in the session or not
    yet: a level its row settles (`settled_access`) needs no session, else they join it."""
    validate_name(namespace, name)
    services = services_of(request)
    principal = await get_principal(request)
    repository = preloaded or await _repository_with_namespace(session, namespace, name)
    if repository is None and create and principal is not None:
        # Give our connection back first: creation uses its own short transaction.
        await session.rollback()
        await _auto_create(services, principal, namespace, name)
        repository = await _repository_with_namespace(session, namespace, name)
    if repository is None:
        if principal is None:
            raise _unauthorized()
        raise _name_unknown(namespace, name)
    if preloaded is not None:
        account = session.info.get("namespace_account")
        if isinstance(account, Account) and account.id == preloaded.namespace_id:
            settled = settled_access(
                principal,
                preloaded.full_name,
                account.id,
                account.is_org,
                preloaded.visibility == "public",
            )
            if settled is not None and settled >= need:
                return RepoContext(services, principal, preloaded, settled)
        adopt(session, preloaded)
    level = await repository_access(session, principal, repository)
    if level < need:
        if principal is None:
            raise _unauthorized()
        lacking = await token_lacks_scope(session, principal, repository, need)
        if lacking is not None:
            raise lacking
        if level is AccessLevel.NONE:
            raise _name_unknown(namespace, name)
        raise DockyardError(ErrorCode.DENIED, "you may pull from this repository but not change it")
    return RepoContext(services, principal, repository, level)
