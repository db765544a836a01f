"""Webhooks API end to end against the real server: access rules, listings, bad input,
schemas, the test endpoint and the SSRF policy at create/test time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest
import trustme

from tests.fakes import webhook_seed as seed
from tests.fakes.databases import create_database, drop_database
from tests.fakes.receiver import Receiver, Reply, ca_pem
from tests.fakes.server import RunningServer, make_server


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder: Path = tmp_path_factory.mktemp("wh-api")
    # Loopback receivers are used, so clear loopback from the block list; 127.0.0.2 stays
    # blocked to exercise the policy.
    server = make_server(
        folder,
        create_database(folder),
        {
            "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": "127.0.0.2/32,169.254.0.0/16",
            "DOCKYARD_WEBHOOK_TEST_RATE_PER_MINUTE": "1000",
        },
    )
    server.start()
    seed.user(server, "alice")  # owns namespace alice
    seed.user(server, "bob")
    seed.user(server, "carol")  # org owner of acme
    seed.user(server, "dave")  # team admin on acme/app
    seed.user(server, "root", admin=True)
    seed.org(server, "acme", owners=["carol"], members=["bob"])
    seed.repo(server, "alice", "web")
    seed.repo(server, "acme", "app")
    seed.repo(server, "acme", "lib")
    seed.team_repo_access(server, "acme", "ops", "app", "admin", ["dave"])
    yield server
    server.kill()
    drop_database(server.database_url)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def client(srv: RunningServer, who: str) -> httpx.Client:
    if who == "admin":
        return srv.client(auth=srv.admin_auth)
    return srv.client(auth=(who, "password-123"))


def create(srv: RunningServer, who: str, **body: object) -> httpx.Response:
    with client(srv, who) as c:
        return c.post("/api/v0/webhooks", json=body)


def error_code(resp: httpx.Response) -> str:
    return str(resp.json()["errors"][0]["code"])


def test_seed_curl_example_shape(srv: RunningServer, receiver: Receiver) -> None:
    resp = create(
        srv,
        "carol",
        endpoint=receiver.url("/seed"),
        key="acme/app",
        skipTLSVerification=True,
        type="TAG_PULL",
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    for field in (
        "id",
        "type",
        "key",
        "endpoint",
        "authorID",
        "createdAt",
        "lastSuccessfulAt",
        "inactive",
        "tlsCert",
        "skipTLSVerification",
    ):
        assert field in body
    assert len(body["id"]) == 64
    assert body["type"] == "TAG_PULL" and body["key"] == "acme/app"
    assert body["lastSuccessfulAt"] == "0001-01-01T00:00:00Z"
    assert body["inactive"] is False and body["tlsCert"] == "" and body["skipTLSVerification"]
    assert body["secret"].startswith("whsec_")
    assert body["consecutiveFailures"] == 0
    # The secret is shown on create only.
    with client(srv, "carol") as c:
        listed = c.get("/api/v0/webhooks").json()
    assert next(w for w in listed if w["id"] == body["id"]).get("secret") is None


@pytest.mark.parametrize(
    ("who", "body", "status", "code"),
    [
        # repository events need repository admin; a private repository the caller cannot
        # read is answered as a missing one (404), so the key cannot probe for names
        ("alice", {"type": "TAG_PUSH", "key": "alice/web"}, 201, None),
        ("bob", {"type": "TAG_PUSH", "key": "alice/web"}, 404, "NO_SUCH_REPOSITORY"),
        ("bob", {"type": "TAG_PUSH", "key": "acme/app"}, 404, "NO_SUCH_REPOSITORY"),  # member
        ("dave", {"type": "TAG_PUSH", "key": "acme/app"}, 201, None),  # team admin on the repo
        ("dave", {"type": "TAG_PUSH", "key": "acme/lib"}, 404, "NO_SUCH_REPOSITORY"),
        ("bob", {"type": "TAG_PUSH", "key": "acme/no-such-repo"}, 404, "NO_SUCH_REPOSITORY"),
        ("carol", {"type": "MANIFEST_PUSH", "key": "acme/lib"}, 201, None),  # org owner
        ("admin", {"type": "TAG_DELETE", "key": "alice/web"}, 201, None),
        # REPO_EVENT needs the namespace owner
        ("alice", {"type": "REPO_EVENT", "key": "alice"}, 201, None),
        ("carol", {"type": "REPO_EVENT", "key": "acme"}, 201, None),
        ("dave", {"type": "REPO_EVENT", "key": "acme"}, 403, "NOT_AUTHORIZED"),
        ("bob", {"type": "REPO_CREATED", "key": "alice"}, 403, "NOT_AUTHORIZED"),
        ("alice", {"type": "REPO_DELETED", "key": "alice"}, 201, None),
        # omitting key: admins only
        ("alice", {"type": "TAG_PUSH"}, 400, "INVALID_WEBHOOK_KEY"),
        ("admin", {"type": "TAG_PUSH"}, 201, None),
        ("admin", {"type": "REPO_EVENT"}, 201, None),
        # scanner updates: admins only, no key
        ("alice", {"type": "SCANNER_UPDATE_COMPLETED"}, 403, "NOT_AUTHORIZED"),
        ("admin", {"type": "SCANNER_UPDATE_COMPLETED"}, 201, None),
        ("admin", {"type": "SCANNER_UPDATE_COMPLETED", "key": "alice"}, 400, "INVALID_WEBHOOK_KEY"),
        # unknown resources
        ("alice", {"type": "TAG_PUSH", "key": "nobody/web"}, 404, "NO_SUCH_ACCOUNT"),
        ("alice", {"type": "TAG_PUSH", "key": "alice/nope"}, 404, "NO_SUCH_REPOSITORY"),
        ("alice", {"type": "REPO_EVENT", "key": "nobody"}, 404, "NO_SUCH_ACCOUNT"),
        # wrong key shapes
        ("alice", {"type": "TAG_PUSH", "key": "alice"}, 400, "INVALID_WEBHOOK_KEY"),
        ("alice", {"type": "TAG_PUSH", "key": "alice/web/x"}, 400, "INVALID_WEBHOOK_KEY"),
        ("alice", {"type": "REPO_EVENT", "key": "alice/web"}, 400, "INVALID_WEBHOOK_KEY"),
    ],
)
def test_access_rules(
    srv: RunningServer,
    receiver: Receiver,
    who: str,
    body: dict[str, object],
    status: int,
    code: str | None,
) -> None:
    resp = create(srv, who, endpoint=receiver.url("/rules"), **body)
    assert resp.status_code == status, resp.text
    if code:
        assert error_code(resp) == code


def test_anonymous_is_401(srv: RunningServer) -> None:
    with srv.client() as c:
        resp = c.post("/api/v0/webhooks", json={"type": "TAG_PUSH", "key": "alice/web"})
    assert resp.status_code == 401
    assert error_code(resp) == "NOT_AUTHENTICATED"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"type": "NOPE", "key": "alice/web", "endpoint": "http://127.0.0.1:1/"},
            "INVALID_WEBHOOK_TYPE",
        ),
        (
            {"type": 3, "key": "alice/web", "endpoint": "http://127.0.0.1:1/"},
            "INVALID_WEBHOOK_TYPE",
        ),
        ({"key": "alice/web", "endpoint": "http://127.0.0.1:1/"}, "INVALID_PARAMETERS"),
        ({"type": "TAG_PUSH", "key": 7, "endpoint": "http://127.0.0.1:1/"}, "INVALID_PARAMETERS"),
        ({"type": "TAG_PUSH", "key": "alice/web"}, "INVALID_WEBHOOK_ENDPOINT"),
        (
            {"type": "TAG_PUSH", "key": "alice/web", "endpoint": "ftp://x/"},
            "INVALID_WEBHOOK_ENDPOINT",
        ),
        (
            {"type": "TAG_PUSH", "key": "alice/web", "endpoint": "not a url"},
            "INVALID_WEBHOOK_ENDPOINT",
        ),
        ({"type": "TAG_PUSH", "key": "alice/web", "endpoint": 5}, "INVALID_WEBHOOK_ENDPOINT"),
        (
            {"type": "TAG_PUSH", "key": "alice/web", "endpoint": "http://h:99999/"},
            "INVALID_WEBHOOK_ENDPOINT",
        ),
        (
            {
                "type": "TAG_PUSH",
                "key": "alice/web",
                "endpoint": "http://127.0.0.1:1/",
                "tlsCert": "junk",
            },
            "INVALID_TLS_CERT",
        ),
        (
            {
                "type": "TAG_PUSH",
                "key": "alice/web",
                "endpoint": "http://127.0.0.1:1/",
                "tlsCert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            },
            "INVALID_TLS_CERT",
        ),
        (
            {
                "type": "TAG_PUSH",
                "key": "alice/web",
                "endpoint": "http://127.0.0.1:1/",
                "skipTLSVerification": "yes",
            },
            "INVALID_PARAMETERS",
        ),
    ],
)
def test_bad_input_is_400_envelope(srv: RunningServer, body: dict[str, object], code: str) -> None:
    with client(srv, "alice") as c:
        resp = c.post("/api/v0/webhooks", json=body)
    assert resp.status_code == 400, resp.text
    assert error_code(resp) == code
    assert resp.json()["errors"][0]["message"]


def test_malformed_json_is_invalid_json(srv: RunningServer) -> None:
    with client(srv, "alice") as c:
        resp = c.post(
            "/api/v0/webhooks", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert resp.status_code == 400 and error_code(resp) == "INVALID_JSON"
        resp = c.post("/api/v0/webhooks", json=[1, 2])
        assert resp.status_code == 400 and error_code(resp) == "INVALID_JSON"


def test_listings_per_role(srv: RunningServer, receiver: Receiver) -> None:
    ids = {}
    for who, typ, key in [
        ("alice", "TAG_PUSH", "alice/web"),
        ("dave", "TAG_PULL", "acme/app"),
        ("carol", "TAG_PUSH", "acme/app"),
        ("carol", "REPO_EVENT", "acme"),
    ]:
        resp = create(srv, who, type=typ, key=key, endpoint=receiver.url("/list"))
        assert resp.status_code == 201, resp.text
        ids[(who, typ, key)] = resp.json()["id"]

    def listed(who: str, path: str) -> set[str]:
        with client(srv, who) as c:
            resp = c.get(path)
        assert resp.status_code == 200, resp.text
        return {w["id"] for w in resp.json()}

    # own subscriptions only for normal users; every one for admins
    alice_own = listed("alice", "/api/v0/webhooks")
    assert ids[("alice", "TAG_PUSH", "alice/web")] in alice_own
    assert ids[("carol", "TAG_PUSH", "acme/app")] not in alice_own
    assert set(ids.values()) <= listed("admin", "/api/v0/webhooks")
    # webhookType filter
    with client(srv, "carol") as c:
        only = c.get("/api/v0/webhooks", params={"webhookType": "REPO_EVENT"}).json()
        assert {w["type"] for w in only} == {"REPO_EVENT"}
        assert c.get("/api/v0/webhooks", params={"webhookType": "BAD"}).status_code == 400
        assert {w["type"] for w in c.get("/api/v0/webhooks?webhookType=any").json()} >= {
            "TAG_PUSH",
            "REPO_EVENT",
        }
    # per-repository list: the repo's admins see everyone's subscriptions
    repo_list = listed("dave", "/api/v0/repositories/acme/app/webhooks")
    assert {
        ids[("dave", "TAG_PULL", "acme/app")],
        ids[("carol", "TAG_PUSH", "acme/app")],
    } <= repo_list
    with client(srv, "bob") as c:
        # bob cannot even see the private repository: 404, not 403
        assert c.get("/api/v0/repositories/acme/app/webhooks").status_code == 404
        assert c.get("/api/v0/accounts/acme/webhooks").status_code == 403
        assert c.get("/api/v0/repositories/acme/nope/webhooks").status_code == 404
    # namespace lists, both paths
    for path in ("/api/v0/accounts/acme/webhooks", "/api/v0/repositories/acme/webhooks"):
        ns_list = listed("carol", path)
        assert ids[("carol", "REPO_EVENT", "acme")] in ns_list
        assert ids[("alice", "TAG_PUSH", "alice/web")] not in ns_list
    with client(srv, "carol") as c:
        assert error_code(c.get("/api/v0/accounts/nobody/webhooks")) == "NO_SUCH_ACCOUNT"


def test_delete_rules(srv: RunningServer, receiver: Receiver) -> None:
    wid = create(
        srv, "dave", type="TAG_PUSH", key="acme/app", endpoint=receiver.url("/del")
    ).json()["id"]
    with client(srv, "bob") as c:
        assert c.delete(f"/api/v0/webhooks/{wid}").status_code == 404
    with client(srv, "alice") as c:
        assert c.delete(f"/api/v0/webhooks/{wid}").status_code == 404
    # carol owns the org: admin of the resource, though not the author
    with client(srv, "carol") as c:
        assert c.delete(f"/api/v0/webhooks/{wid}").status_code == 204
        resp = c.delete(f"/api/v0/webhooks/{wid}")
        assert resp.status_code == 404 and error_code(resp) == "NO_SUCH_WEBHOOK"
    wid = create(srv, "admin", type="TAG_PUSH", endpoint=receiver.url("/del")).json()["id"]
    with client(srv, "alice") as c:
        assert c.delete(f"/api/v0/webhooks/{wid}").status_code == 404
    with client(srv, "admin") as c:
        assert c.delete(f"/api/v0/webhooks/{wid}").status_code == 204


def test_update_and_patch(srv: RunningServer, receiver: Receiver) -> None:
    wid = create(
        srv, "alice", type="TAG_PUSH", key="alice/web", endpoint=receiver.url("/u")
    ).json()["id"]
    ca = trustme.CA()
    with client(srv, "alice") as c:
        resp = c.post(
            "/api/v0/webhooks/update",
            json={"id": wid, "inactive": True, "tlsCert": ca_pem(ca), "skipTLSVerification": True},
        )
        assert resp.status_code == 200, resp.text
        [updated] = resp.json()
        assert (
            updated["inactive"]
            and updated["skipTLSVerification"]
            and updated["tlsCert"] == ca_pem(ca)
        )
        bad = c.post("/api/v0/webhooks/update", json={"id": wid, "tlsCert": "nope"})
        assert bad.status_code == 400 and error_code(bad) == "INVALID_TLS_CERT"
        bad = c.post("/api/v0/webhooks/update", json={"id": wid, "inactive": "no"})
        assert bad.status_code == 400 and error_code(bad) == "INVALID_PARAMETERS"
        bad = c.post("/api/v0/webhooks/update", json={"id": "0" * 64, "inactive": False})
        assert bad.status_code == 404 and error_code(bad) == "NO_SUCH_WEBHOOK"
        patched = c.patch(
            f"/api/v0/webhooks/{wid}", json={"endpoint": receiver.url("/u2"), "inactive": False}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["endpoint"].endswith("/u2") and not patched.json()["inactive"]
        blocked = c.patch(f"/api/v0/webhooks/{wid}", json={"endpoint": "http://127.0.0.2:9/"})
        assert blocked.status_code == 400 and error_code(blocked) == "WEBHOOK_ENDPOINT_BLOCKED"
        assert c.get(f"/api/v0/webhooks/{wid}").json()["endpoint"].endswith("/u2")
    with client(srv, "bob") as c:
        assert (
            c.post("/api/v0/webhooks/update", json={"id": wid, "inactive": True}).status_code == 404
        )


def test_rotate_secret(srv: RunningServer, receiver: Receiver) -> None:
    created = create(
        srv, "alice", type="TAG_PUSH", key="alice/web", endpoint=receiver.url("/r")
    ).json()
    with client(srv, "alice") as c:
        rotated = c.post(f"/api/v0/webhooks/{created['id']}/rotateSecret")
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != created["secret"]


def test_ssrf_blocked_at_create(srv: RunningServer) -> None:
    resp = create(
        srv, "alice", type="TAG_PUSH", key="alice/web", endpoint="http://127.0.0.2:8080/x"
    )
    assert resp.status_code == 400
    assert error_code(resp) == "WEBHOOK_ENDPOINT_BLOCKED"
    assert "127.0.0.2" in resp.json()["errors"][0]["message"]
    resp = create(
        srv, "alice", type="TAG_PUSH", key="alice/web", endpoint="http://169.254.169.254/latest"
    )
    assert resp.status_code == 400 and error_code(resp) == "WEBHOOK_ENDPOINT_BLOCKED"


def test_schemas_served_and_samples_valid(srv: RunningServer, receiver: Receiver) -> None:
    with client(srv, "alice") as c:
        schema = c.get("/api/v0/webhooks/schemas/TAG_PUSH")
        assert schema.status_code == 200
        assert c.get("/api/v0/webhooks/schemas/NOPE").status_code == 400
        resp = c.post(
            "/api/v0/webhooks/test", json={"type": "TAG_PUSH", "endpoint": receiver.url("/sample")}
        )
    assert resp.status_code == 200, resp.text
    [got] = receiver.wait_for(1, "/sample")
    jsonschema.validate(got.json, schema.json())
    assert got.json == {
        "type": "TAG_PUSH",
        "createdAt": "2019-05-15T19:39:40.607337713Z",
        "contents": {
            "namespace": "foo",
            "repository": "bar",
            "tag": "latest",
            "digest": "sha256:b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c",
            "imageName": "foo/bar:latest",
            "os": "linux",
            "architecture": "amd64",
            "author": "",
            "pushedAt": "2015-01-02T15:04:05Z",
        },
        "location": "/repositories/foo/bar/tags/latest",
    }
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"].startswith("dockyard/")


def test_test_endpoint_reports_failures(srv: RunningServer, receiver: Receiver) -> None:
    receiver.reply("/t500", Reply(500, body="broken"))
    with client(srv, "bob") as c:
        resp = c.post(
            "/api/v0/webhooks/test",
            json={"type": "REPO_CREATED", "endpoint": receiver.url("/t500")},
        )
        assert resp.status_code == 400
        err = resp.json()["errors"][0]
        assert err["code"] == "WEBHOOK_TEST_FAILED" and "500" in err["message"]
        assert err["detail"]["statusCode"] == 500 and err["detail"]["kind"] == "status"
        got = receiver.received("/t500")[-1].json
        assert got["type"] == "REPO_EVENT" and got["contents"]["event"] == "REPO_CREATED"
        # nothing listening
        closed = Receiver()
        resp = c.post("/api/v0/webhooks/test", json={"type": "TAG_PUSH", "endpoint": closed.url()})
        assert resp.status_code == 400 and resp.json()["errors"][0]["detail"]["kind"] == "network"
        # TLS failure: an HTTPS receiver whose CA we do not trust
        with Receiver(tls=trustme.CA()) as tls_receiver:
            resp = c.post(
                "/api/v0/webhooks/test", json={"type": "TAG_PUSH", "endpoint": tls_receiver.url()}
            )
            assert resp.status_code == 400 and resp.json()["errors"][0]["detail"]["kind"] == "tls"
        # blocked address
        resp = c.post(
            "/api/v0/webhooks/test", json={"type": "TAG_PUSH", "endpoint": "http://127.0.0.2:1/"}
        )
        assert resp.status_code == 400 and error_code(resp) == "WEBHOOK_ENDPOINT_BLOCKED"
        resp = c.post("/api/v0/webhooks/test", json={"type": "NOPE", "endpoint": receiver.url()})
        assert resp.status_code == 400 and error_code(resp) == "INVALID_WEBHOOK_TYPE"
