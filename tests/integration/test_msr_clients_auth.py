"""Refresh tokens as MSR clients use them, against the real server: `docker login`'s identity
token from `/auth/token` (`offline_token=true`), the OAuth2 refresh grant, DTR's
`?refresh_token=` on `/api/v0` and `/enzi/v0` (diver, dtrctl), revocation through the API token
underneath, and access lines that never carry the token.

Request shapes follow the clients: docker's token GET (`account`, `client_id=docker`,
`offline_token=true`, `service`, Basic credentials), the distribution OAuth2 POST form
(`grant_type`, `refresh_token`, `service`, `client_id`, `scope`, `access_type`), and the DTR
scripts' `GET/POST /api/v0/...?refresh_token=...` with JSON bodies.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.server import RunningServer
from tests.integration.accounts_helpers import PASSWORD, create_user, ok


@pytest.fixture(scope="module")
def admin(module_server: RunningServer) -> Iterator[httpx.Client]:
    with module_server.client(auth=module_server.admin_auth) as client:
        create_user(client, "rita")
        create_user(client, "sam")
        yield client


def _docker_login(server: RunningServer, user: str, password: str = PASSWORD) -> dict[str, object]:
    """docker login's token request: Basic credentials, asking for an identity token."""
    with server.client(auth=(user, password)) as client:
        answer = ok(
            client.get(
                "/auth/token",
                params={
                    "account": user,
                    "client_id": "docker",
                    "offline_token": "true",
                    "service": server.host,
                },
            ),
            200,
        )
    return dict(answer.json())


def _refresh_grant(
    server: RunningServer, refresh_token: str, scope: str, **extra: str
) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "service": server.host,
        "client_id": "docker",
        "scope": scope,
        **extra,
    }
    with server.client() as anonymous:
        return anonymous.post("/auth/token", data=form)


def test_docker_login_gets_a_refresh_token_that_is_an_api_token(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    answer = _docker_login(module_server, "rita")
    refresh = answer["refresh_token"]
    assert isinstance(refresh, str) and len(refresh) >= 32
    assert isinstance(answer["token"], str) and isinstance(answer["expires_in"], int)
    # It is listed (and so revocable) among rita's API tokens, marked as a login's.
    tokens = ok(admin.get("/api/v0/api_tokens", params={"username": "rita"})).json()
    auto = [t for t in tokens if t["generatedBy"] == "auto"]
    assert len(auto) == 1 and auto[0]["isActive"] is True
    # Without offline_token, or without credentials, there is none.
    with module_server.client(auth=("rita", PASSWORD)) as rita:
        plain = ok(rita.get("/auth/token", params={"service": module_server.host})).json()
    assert "refresh_token" not in plain
    with module_server.client() as anonymous:
        anon = anonymous.get("/auth/token", params={"offline_token": "true"})
    assert anon.status_code == 200 and "refresh_token" not in anon.json()
    # The OAuth2 password grant with access_type=offline issues one too.
    with module_server.client() as anonymous:
        form = {
            "grant_type": "password",
            "username": "rita",
            "password": PASSWORD,
            "service": module_server.host,
            "client_id": "docker",
            "access_type": "offline",
        }
        oauth = ok(anonymous.post("/auth/token", data=form), 200).json()
    assert isinstance(oauth["refresh_token"], str) and oauth["refresh_token"] != refresh


def test_refresh_grant_issues_access_tokens_until_revoked(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    with module_server.client(auth=("sam", PASSWORD)) as sam:
        ok(sam.post("/api/v0/repositories/sam", json={"name": "app"}), 201)
    refresh = str(_docker_login(module_server, "sam")["refresh_token"])

    granted = _refresh_grant(module_server, refresh, "repository:sam/app:pull,push")
    body = ok(granted, 200).json()
    assert isinstance(body["access_token"], str) and isinstance(body["expires_in"], int)
    assert "refresh_token" not in body
    with module_server.client() as client:
        tags = client.get(
            "/v2/sam/app/tags/list", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
    # The repository is empty: NAME_UNKNOWN or an empty list, but never a 401.
    assert tags.status_code in (200, 404), tags.text
    # access_type=offline hands the same refresh token back.
    again = ok(_refresh_grant(module_server, refresh, "", access_type="offline"), 200).json()
    assert again["refresh_token"] == refresh

    # Revoked through the API token underneath: the grant is refused.
    hashed = _auto_token(admin, "sam")
    ok(admin.delete(f"/api/v0/api_tokens/{hashed}"), 200)
    refused = _refresh_grant(module_server, refresh, "repository:sam/app:pull")
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == "NOT_AUTHENTICATED"
    unknown = _refresh_grant(module_server, "not-a-token", "repository:sam/app:pull")
    assert unknown.status_code == 401
    with module_server.client() as anonymous:
        missing = anonymous.post("/auth/token", data={"grant_type": "refresh_token"})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["code"] == "INVALID_PARAMETERS"


def _auto_token(admin: httpx.Client, user: str) -> str:
    tokens = ok(admin.get("/api/v0/api_tokens", params={"username": user})).json()
    return str(next(t["hashedToken"] for t in tokens if t["generatedBy"] == "auto"))


def test_refresh_token_query_parameter_authenticates_api_calls(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    create_user(admin, "tess")
    refresh = str(_docker_login(module_server, "tess")["refresh_token"])
    with module_server.client() as client:
        auth = {"refresh_token": refresh}
        # A write, as dtrctl sends it: the token in the query, a JSON body.
        created = ok(
            client.post(
                "/api/v0/repositories/tess",
                params=auth,
                json={"name": "private-app", "visibility": "private"},
            ),
            201,
        ).json()
        assert created["namespace"] == "tess" and created["visibility"] == "private"
        # A read gets tess's view (the private repository), not the anonymous one.
        listed = ok(client.get("/api/v0/repositories", params={**auth, "pageSize": 100})).json()
        assert "tess/private-app" in {
            f"{r['namespace']}/{r['name']}" for r in listed["repositories"]
        }
        anonymous = ok(client.get("/api/v0/repositories", params={"pageSize": 100})).json()
        assert "tess/private-app" not in {
            f"{r['namespace']}/{r['name']}" for r in anonymous["repositories"]
        }
        # eNZi too.
        me = ok(client.get("/enzi/v0/accounts/tess", params=auth)).json()
        assert me["name"] == "tess" and isinstance(me["id"], str)
        # A wrong token is a 401 in the envelope, even on a read anonymous callers may make.
        for bad in ("wrong", ""):
            refused = client.get("/api/v0/repositories", params={"refresh_token": bad})
            assert refused.status_code == 401
            assert refused.json()["errors"][0]["code"] == "NOT_AUTHENTICATED"
        # Turned off, then deleted: refused each time.
        hashed = _auto_token(admin, "tess")
        ok(admin.patch(f"/api/v0/api_tokens/{hashed}", json={"isActive": False}))
        assert client.get("/api/v0/repositories", params=auth).status_code == 401
        ok(admin.patch(f"/api/v0/api_tokens/{hashed}", json={"isActive": True}))
        ok(client.get("/api/v0/repositories", params=auth))
        ok(admin.delete(f"/api/v0/api_tokens/{hashed}"), 200)
        gone = client.post("/api/v0/repositories/tess", params=auth, json={"name": "again"})
        assert gone.status_code == 401


def test_access_lines_never_carry_the_refresh_token(module_server: RunningServer) -> None:
    secret = "SECRET-refresh-7f3a9c"
    with module_server.client() as client:
        answer = client.get("/api/v0/repositories", params={"refresh_token": secret, "x": "1"})
    assert answer.status_code == 401
    request_id = answer.headers["x-request-id"]
    deadline = time.monotonic() + 60
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = [line for line in module_server.logs().splitlines() if request_id in line]
        if any('"http.request"' in line for line in lines):
            break
        time.sleep(0.2)
    access = [line for line in lines if '"http.request"' in line]
    assert access, "no access line for the request"
    assert "refresh_token" in access[0] and "x=1" in access[0]
    assert secret not in module_server.logs()
