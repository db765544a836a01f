"""`dockyard users`, `dockyard orgs` and `dockyard tokens`: accounts managed from the shell.

Each command prepares the database like `serve` (migrations, the first admin), calls
`dockyard.accounts.service` in one session and commits what it created; the rules (names,
passwords, who may own what) stay in the service. Registers nothing with Typer
(`dockyard/cli/__init__.py` does).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.cli.common import ConfigOpt, load, prepare, run_with_session


def users_create(
    name: str,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user a registry admin.")] = False,
    password: Annotated[
        str | None, typer.Option(help="Password (prompted for when omitted).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Create a user."""
    from dockyard.accounts.service import create_user
    from dockyard.errors import DockyardError
    from dockyard.services import build_services

    settings = load(config)
    prepare(settings)
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def run() -> None:
        services = build_services(settings)
        try:
            async with services.session() as session:
                await create_user(session, name, password, is_admin=admin)
                await session.commit()
        finally:
            await services.close()

    try:
        asyncio.run(run())
    except DockyardError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"created user {name}{' (admin)' if admin else ''}")


def users_list(config: ConfigOpt = None) -> None:
    """List users and organizations (name, kind, admin, active)."""
    from dockyard.accounts.service import list_accounts

    settings = load(config)
    prepare(settings)

    async def work(session: AsyncSession) -> list[tuple[str, str, bool, bool]]:
        rows = await list_accounts(session, "all")
        return [(a.name, "org" if a.is_org else "user", a.is_admin, a.is_active) for a in rows]

    for name, kind, is_admin, is_active in run_with_session(settings, work):
        flags = " ".join(f for f, on in (("admin", is_admin), ("inactive", not is_active)) if on)
        typer.echo(f"{name}\t{kind}\t{flags}".rstrip())


def orgs_create(
    name: str,
    owner: Annotated[
        list[str] | None, typer.Option("--owner", help="User to make an owner (repeatable).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Create an organization, optionally with owners."""
    from dockyard.accounts.service import create_org, require_user, set_org_member

    settings = load(config)
    prepare(settings)

    async def work(session: AsyncSession) -> None:
        org = await create_org(session, name)
        for user_name in owner or []:
            user = await require_user(session, user_name)
            await set_org_member(session, org, user, is_admin=True)
        await session.commit()

    run_with_session(settings, work)
    typer.echo(f"created organization {name}")


def tokens_create(
    user: str,
    label: Annotated[str, typer.Option("--label", help="A label to recognise the token by.")] = "",
    config: ConfigOpt = None,
) -> None:
    """Create an API token for USER and print it (it is shown only this once)."""
    from dockyard.accounts.service import create_token, require_user

    settings = load(config)
    prepare(settings)

    async def work(session: AsyncSession) -> str:
        account = await require_user(session, user)
        _token, plaintext = await create_token(session, account, label=label, generated_by="cli")
        await session.commit()
        return plaintext

    typer.echo(run_with_session(settings, work))
