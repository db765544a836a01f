"""The server starts with embedded defaults, answers health checks and refuses anonymous /v2."""

from __future__ import annotations

from tests.fakes.server import RunningServer


def test_health_and_ping(server: RunningServer) -> None:
    with server.client() as client:
        assert client.get("/health").json()["healthy"] is True
        assert client.get("/_ping").status_code == 200


def test_v2_requires_credentials(server: RunningServer) -> None:
    with server.client() as client:
        anonymous = client.get("/v2/")
        assert anonymous.status_code == 401
        assert "www-authenticate" in anonymous.headers
        assert anonymous.json()["errors"][0]["code"] == "UNAUTHORIZED"
        wrong = client.get("/v2/", auth=("admin", "wrong"))
        assert wrong.status_code == 401
        ok = client.get("/v2/", auth=server.admin_auth)
        assert ok.status_code == 200
        assert ok.headers["docker-distribution-api-version"] == "registry/2.0"
