"""The authorization matrix: every kind of route of /v2, /api/v0 and /enzi/v0, for every role,
on a public and a private repository of an organization. Expected statuses are data.

Roles: anonymous; `outsider` (signed in, no grants); `reader` / `writer` / `repoadmin` (members of
teams granted read-only / read-write / admin on each repository); `owner` (org member with
isAdmin); `admin` (registry admin). One server for the module; fixtures go through the API.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from tests.fakes.server import RunningServer
from tests.integration.accounts_helpers import (
    add_member,
    client_for,
    create_org,
    create_repo,
    create_team,
    create_user,
    grant_repo,
    ok,
    push_image,
)

ORG = "mxorg"
ROLES = ("anonymous", "outsider", "reader", "writer", "repoadmin", "owner", "admin")
TEAM_OF = {"reader": ("t-ro", "read-only"), "writer": ("t-rw", "read-write"),
           "repoadmin": ("t-admin", "admin")}  # fmt: skip
NO_DIGEST = "sha256:" + "0" * 64


@dataclass(frozen=True)
class Cell:
    """What one request needs: the role's client, the repository ("ns/name"), a unique word."""

    client: httpx.Client
    repo: str
    unique: str


Request = Callable[[Cell], httpx.Response]

# Route name -> (request, expected statuses on the PUBLIC repo, on the PRIVATE repo), each a
# row in ROLES order: anonymous, outsider, reader, writer, repoadmin, owner, admin.
REPOSITORY_ROUTES: dict[str, tuple[Request, tuple[int, ...], tuple[int, ...]]] = {
    "v2 pull manifest": (
        lambda c: c.client.get(f"/v2/{c.repo}/manifests/v1"),
        (200, 200, 200, 200, 200, 200, 200),
        (401, 404, 200, 200, 200, 200, 200),
    ),
    "v2 start blob upload": (
        lambda c: c.client.post(f"/v2/{c.repo}/blobs/uploads/"),
        (401, 403, 403, 202, 202, 202, 202),
        (401, 404, 403, 202, 202, 202, 202),
    ),
    "v2 delete manifest (unknown digest)": (
        lambda c: c.client.delete(f"/v2/{c.repo}/manifests/{NO_DIGEST}"),
        (401, 403, 403, 404, 404, 404, 404),
        (401, 404, 403, 404, 404, 404, 404),
    ),
    "v2 list tags": (
        lambda c: c.client.get(f"/v2/{c.repo}/tags/list"),
        (200, 200, 200, 200, 200, 200, 200),
        (401, 404, 200, 200, 200, 200, 200),
    ),
    # /api/v0 answers a private repository the caller may not read exactly as a missing one
    # (404, as /v2 answers NAME_UNKNOWN), so its name cannot be probed; routes that need a
    # signed-in caller still answer anonymous callers 401 before looking anything up.
    "api get repository": (
        lambda c: c.client.get(f"/api/v0/repositories/{c.repo}"),
        (200, 200, 200, 200, 200, 200, 200),
        (404, 404, 200, 200, 200, 200, 200),
    ),
    "api patch repository": (
        lambda c: c.client.patch(f"/api/v0/repositories/{c.repo}", json={"shortDescription": "x"}),
        (401, 403, 403, 403, 200, 200, 200),
        (401, 404, 403, 403, 200, 200, 200),
    ),
    "api list tags": (
        lambda c: c.client.get(f"/api/v0/repositories/{c.repo}/tags"),
        (200, 200, 200, 200, 200, 200, 200),
        (404, 404, 200, 200, 200, 200, 200),
    ),
    "api get tag": (
        lambda c: c.client.get(f"/api/v0/repositories/{c.repo}/tags/v1"),
        (200, 200, 200, 200, 200, 200, 200),
        (404, 404, 200, 200, 200, 200, 200),
    ),
    "api delete tag (unknown tag)": (
        lambda c: c.client.delete(f"/api/v0/repositories/{c.repo}/tags/no-such-tag"),
        (401, 403, 403, 404, 404, 404, 404),
        (401, 404, 403, 404, 404, 404, 404),
    ),
    "api list team access": (
        lambda c: c.client.get(f"/api/v0/repositories/{c.repo}/teamAccess"),
        (401, 403, 403, 403, 200, 200, 200),
        (401, 404, 403, 403, 200, 200, 200),
    ),
    "api grant team access": (
        lambda c: c.client.put(
            f"/api/v0/repositories/{c.repo}/teamAccess/t-extra", json={"accessLevel": "read-only"}
        ),
        (401, 403, 403, 403, 200, 200, 200),
        (401, 404, 403, 403, 200, 200, 200),
    ),
    "api list webhooks": (
        lambda c: c.client.get(f"/api/v0/repositories/{c.repo}/webhooks"),
        (401, 403, 403, 403, 200, 200, 200),
        (401, 404, 403, 403, 200, 200, 200),
    ),
    "api delete repository": (
        # Each cell deletes its own throwaway repository (same grants as the shared ones).
        lambda c: c.client.delete(f"/api/v0/repositories/{ORG}/del-{c.unique}"),
        (401, 403, 403, 403, 204, 204, 204),
        (401, 404, 403, 403, 204, 204, 204),
    ),
}

# Routes about the organization or accounts, not one repository: one row each.
ACCOUNT_ROUTES: dict[str, tuple[Request, tuple[int, ...]]] = {
    "api list repositories": (
        lambda c: c.client.get("/api/v0/repositories"),
        (200, 200, 200, 200, 200, 200, 200),
    ),
    "api list namespace repositories": (
        lambda c: c.client.get(f"/api/v0/repositories/{ORG}"),
        (200, 200, 200, 200, 200, 200, 200),
    ),
    "api create repository": (
        lambda c: c.client.post(f"/api/v0/repositories/{ORG}", json={"name": f"new-{c.unique}"}),
        (401, 403, 403, 403, 403, 201, 201),
    ),
    "api list namespace team access": (
        lambda c: c.client.get(f"/api/v0/repositoryNamespaces/{ORG}/teamAccess"),
        (401, 403, 200, 200, 200, 200, 200),
    ),
    "api grant namespace team access": (
        lambda c: c.client.put(
            f"/api/v0/repositoryNamespaces/{ORG}/teamAccess/t-extra",
            json={"accessLevel": "read-only"},
        ),
        (401, 403, 403, 403, 403, 200, 200),
    ),
    "api list own tokens": (
        lambda c: c.client.get("/api/v0/api_tokens"),
        (401, 200, 200, 200, 200, 200, 200),
    ),
    "api list another user's tokens": (
        lambda c: c.client.get("/api/v0/api_tokens", params={"username": "bystander"}),
        (401, 403, 403, 403, 403, 403, 200),
    ),
    "enzi list accounts": (
        lambda c: c.client.get("/enzi/v0/accounts"),
        (401, 200, 200, 200, 200, 200, 200),
    ),
    "enzi create user": (
        lambda c: c.client.post(
            "/enzi/v0/accounts", json={"name": f"u-{c.unique}", "password": "long-enough-pw"}
        ),
        (401, 403, 403, 403, 403, 403, 201),
    ),
    "enzi deactivate a user": (
        lambda c: c.client.patch("/enzi/v0/accounts/bystander", json={"isActive": True}),
        (401, 403, 403, 403, 403, 403, 200),
    ),
    "enzi list org members": (
        lambda c: c.client.get(f"/enzi/v0/accounts/{ORG}/members"),
        (401, 403, 200, 200, 200, 200, 200),
    ),
    "enzi add org member": (
        lambda c: c.client.put(f"/enzi/v0/accounts/{ORG}/members/bystander", json={}),
        (401, 403, 403, 403, 403, 200, 200),
    ),
    "enzi create team": (
        lambda c: c.client.post(
            f"/enzi/v0/accounts/{ORG}/teams", json={"name": f"t-new-{c.unique}"}
        ),
        (401, 403, 403, 403, 403, 201, 201),
    ),
    "enzi list teams": (
        lambda c: c.client.get(f"/enzi/v0/accounts/{ORG}/teams"),
        (401, 403, 200, 200, 200, 200, 200),
    ),
}


@pytest.fixture(scope="module")
def world(module_server: RunningServer) -> Iterator[dict[str, httpx.Client]]:
    srv = module_server
    clients = {role: client_for(srv, None if role == "anonymous" else role) for role in ROLES}
    admin = clients["admin"]
    users = ("outsider", "reader", "writer", "repoadmin", "owner", "bystander")
    # argon2 hashing is slow by design; the server hashes on threads, so ask in parallel.
    with ThreadPoolExecutor(len(users)) as pool:
        list(pool.map(lambda user: create_user(admin, user), users))
    create_org(admin, ORG)
    add_member(admin, ORG, "owner", is_admin=True)
    for role, (team, _level) in TEAM_OF.items():
        create_team(admin, ORG, team, [role])
    create_team(admin, ORG, "t-extra", [])
    repos = [("pub", "public"), ("priv", "private")]
    repos += [(f"del-{role}-{vis}", vis) for role in ROLES for vis in ("public", "private")]
    for name, visibility in repos:
        create_repo(admin, ORG, name, visibility)
        for _role, (team, level) in TEAM_OF.items():
            grant_repo(admin, f"{ORG}/{name}", team, level)
    for name in ("pub", "priv"):
        push_image(admin, f"{ORG}/{name}", "v1", content=name.encode())
    yield clients
    for client in clients.values():
        client.close()


CASES = [
    pytest.param(route, role, vis, id=f"{route}|{role}|{vis}")
    for route in REPOSITORY_ROUTES
    for role in ROLES
    for vis in ("public", "private")
]


def _check(response: httpx.Response, expected: int) -> None:
    assert response.status_code == expected, (
        f"{response.request.method} {response.request.url.path}: "
        f"{response.status_code} {response.text[:300]}"
    )
    if expected >= 400:
        body = response.json()
        assert body["errors"][0]["code"], body
    if expected == 401:
        assert "www-authenticate" in response.headers


def test_matrix_is_complete() -> None:
    for _route, (_req, public, private) in REPOSITORY_ROUTES.items():
        assert len(public) == len(private) == len(ROLES)
    for _route, (_req, row) in ACCOUNT_ROUTES.items():
        assert len(row) == len(ROLES)


@pytest.mark.parametrize(("route", "role", "visibility"), CASES)
def test_repository_route(
    world: dict[str, httpx.Client], route: str, role: str, visibility: str
) -> None:
    request, public, private = REPOSITORY_ROUTES[route]
    expected = (public if visibility == "public" else private)[ROLES.index(role)]
    repo = f"{ORG}/{'pub' if visibility == 'public' else 'priv'}"
    _check(request(Cell(world[role], repo, f"{role}-{visibility}")), expected)


@pytest.mark.parametrize(
    ("route", "role"), [pytest.param(r, o, id=f"{r}|{o}") for r in ACCOUNT_ROUTES for o in ROLES]
)
def test_account_route(world: dict[str, httpx.Client], route: str, role: str) -> None:
    request, row = ACCOUNT_ROUTES[route]
    _check(request(Cell(world[role], "", role)), row[ROLES.index(role)])


# Which repositories each role sees in GET /api/v0/repositories (the list is filtered).
SEES_PRIVATE = dict(zip(ROLES, (False, False, True, True, True, True, True), strict=True))


@pytest.mark.parametrize("role", ROLES)
def test_repository_list_is_filtered(world: dict[str, httpx.Client], role: str) -> None:
    names = set()
    start = ""
    while True:
        response = ok(world[role].get("/api/v0/repositories", params={"pageStart": start}))
        names |= {f"{r['namespace']}/{r['name']}" for r in response.json()["repositories"]}
        start = response.headers.get("x-next-page-start", "")
        if not start:
            break
    assert f"{ORG}/pub" in names
    assert (f"{ORG}/priv" in names) is SEES_PRIVATE[role]


# Registry bearer tokens grant the intersection of what was asked and what the role may do.
GRANTED_ON_PRIVATE = {
    "anonymous": set(),
    "outsider": set(),
    "reader": {"pull"},
    "writer": {"pull", "push"},
    "repoadmin": {"pull", "push"},
    "owner": {"pull", "push"},
    "admin": {"pull", "push"},
}


@pytest.mark.parametrize("role", ROLES)
def test_bearer_token_grants(
    world: dict[str, httpx.Client], module_server: RunningServer, role: str
) -> None:
    import jwt

    response = ok(
        world[role].get(
            "/auth/token",
            params={"service": module_server.host, "scope": f"repository:{ORG}/priv:pull,push"},
        )
    )
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    granted = set(itertools.chain.from_iterable(a["actions"] for a in claims["access"]))
    assert granted == GRANTED_ON_PRIVATE[role]
    # The token works on /v2 exactly as far as it grants.
    bearer = {"Authorization": f"Bearer {response.json()['token']}"}
    with module_server.client() as raw:
        pulled = raw.get(f"/v2/{ORG}/priv/manifests/v1", headers=bearer)
        assert (pulled.status_code == 200) is ("pull" in granted), pulled.text
        upload = raw.post(f"/v2/{ORG}/priv/blobs/uploads/", headers=bearer)
        assert (upload.status_code == 202) is ("push" in granted), upload.text
