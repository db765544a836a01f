"""Refresh tokens in process: a token alone names its active user (never an organization, a
deactivated user or a turned-off token), and `?refresh_token=` authenticates only the JSON APIs
(the web UI's pages ignore it, so a link cannot sign a browser in)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from dockyard.accounts import service as accounts
from dockyard.services import Services
from tests.fakes.inprocess import inprocess_app


async def _token_scenario(services: Services) -> None:
    async with services.session() as db:
        user = await accounts.create_user(db, "ria", "rias-password")
        row, token = await accounts.create_token(db, user, generated_by="auto")
        await db.commit()
        principal = await accounts.authenticate_token(db, token)
        assert principal is not None and principal.name == "ria"
        assert principal.token_id == row.hashed_token and not principal.is_admin
        assert await accounts.authenticate_token(db, "") is None
        assert await accounts.authenticate_token(db, token + "x") is None

        await accounts.update_token(db, row, is_active=False, label=None)
        await db.commit()
        assert await accounts.authenticate_token(db, token) is None
        await accounts.update_token(db, row, is_active=True, label=None)
        await accounts.update_account(db, user, is_active=False)
        await db.commit()
        assert await accounts.authenticate_token(db, token) is None


async def _scenario(data_dir: Path, database_url: str) -> None:
    async with inprocess_app(data_dir, database_url) as app:
        await _token_scenario(app.services)
        transport = httpx.ASGITransport(app=app.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous:
            api = await anonymous.get("/api/v0/repositories", params={"refresh_token": "nope"})
            assert api.status_code == 401
            assert api.json()["errors"][0]["code"] == "NOT_AUTHENTICATED"
            enzi = await anonymous.get("/enzi/v0/accounts", params={"refresh_token": "nope"})
            assert enzi.status_code == 401
            # Not the web UI: the sign-in page answers as it does without the parameter.
            page = await anonymous.get("/login", params={"refresh_token": "nope"})
            plain = await anonymous.get("/login")
            assert page.status_code == plain.status_code != 401


def test_refresh_tokens(tmp_path: Path, database_url: str) -> None:
    asyncio.run(_scenario(tmp_path, database_url))
