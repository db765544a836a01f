"""GET /api/v0/replicas and the admin's Replicas page on a running server: the HTTP process and
the delivery child each beat into the replicas table; only administrators may look."""

from __future__ import annotations

import time

import httpx

from tests.fakes.server import RunningServer


def _replicas(srv: RunningServer, want: set[str]) -> list[dict[str, object]]:
    """The list once every role in `want` has beaten (the child starts after the server)."""
    with srv.client(auth=srv.admin_auth) as admin:
        for _ in range(300):
            answer = admin.get("/api/v0/replicas")
            assert answer.status_code == 200, answer.text
            replicas = answer.json()["replicas"]
            if want <= {r["role"] for r in replicas}:
                return list(replicas)
            time.sleep(0.1)
    raise AssertionError(f"roles {want} never appeared: {replicas}")


def test_every_process_is_listed_for_admins_only(server: RunningServer) -> None:
    replicas = _replicas(server, {"api", "worker"})
    by_role = {r["role"]: r for r in replicas}
    assert by_role["api"]["status"] == "OK" and by_role["worker"]["status"] == "OK"
    assert by_role["worker"]["replicaID"].endswith("-worker")  # type: ignore[union-attr]
    assert by_role["api"]["replicaID"] != by_role["worker"]["replicaID"]
    assert by_role["api"]["version"]
    with server.client(auth=server.admin_auth) as admin:
        created = admin.post(
            "/enzi/v0/accounts", json={"name": "bob", "password": "bob-password-1", "isOrg": False}
        )
        assert created.status_code in (200, 201), created.text
    with server.client(auth=("bob", "bob-password-1")) as bob:
        denied = bob.get("/api/v0/replicas")
        assert denied.status_code == 403
        assert denied.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
    assert httpx.get(f"{server.url}/api/v0/replicas").status_code == 401


def test_the_admin_page_lists_them(server: RunningServer) -> None:
    replicas = _replicas(server, {"api", "worker"})
    with server.client() as browser:
        login = browser.get("/login")
        csrf = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed_in = browser.post(
            "/login",
            data={"username": "admin", "password": server.admin_password, "csrf_token": csrf},
        )
        assert signed_in.status_code in (200, 303), signed_in.text
        page = browser.get("/admin/replicas")
    assert page.status_code == 200
    assert 'href="/admin/replicas"' in page.text
    for replica in replicas:
        assert str(replica["replicaID"]) in page.text
