"""The `dockyard` command: serve, worker, db upgrade, users, orgs, tokens, gc, scanner update.

This module owns the Typer application and the whole command tree in one place; each command is
written in the module of its group (`server`, `maintenance`, `accounts`, `scanner`; shared helpers
in `common`). It must not hold command logic; the commands import the server, the database and the
services inside their bodies, so `dockyard --help` and `dockyard version` stay fast. The console
script is `dockyard.cli:main`.
"""

from __future__ import annotations

import typer

from dockyard import __version__
from dockyard.cli.accounts import orgs_create, tokens_create, users_create, users_list
from dockyard.cli.maintenance import db_upgrade, gc
from dockyard.cli.scanner import scanner_update
from dockyard.cli.server import serve, worker

app = typer.Typer(
    help="dockyard: an OCI registry with MSR-compatible webhooks.", no_args_is_help=True
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
orgs_app = typer.Typer(help="Manage organizations.", no_args_is_help=True)
tokens_app = typer.Typer(help="Manage API access tokens.", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")
app.add_typer(tokens_app, name="tokens")
scanner_app = typer.Typer(help="The vulnerability scanner's database.", no_args_is_help=True)
app.add_typer(scanner_app, name="scanner")


def version() -> None:
    """Print the version."""
    typer.echo(__version__)


# Registration order is the order `dockyard --help` lists the commands in.
app.command()(serve)
db_app.command("upgrade")(db_upgrade)
users_app.command("create")(users_create)
app.command()(gc)
app.command()(worker)
users_app.command("list")(users_list)
orgs_app.command("create")(orgs_create)
tokens_app.command("create")(tokens_create)
scanner_app.command("update")(scanner_update)
app.command()(version)


def main() -> None:
    app()
