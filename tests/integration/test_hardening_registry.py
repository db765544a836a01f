"""Issue 8, the registry API: the token realm is a URL, token-auth semantics as Distribution's
(scopes in challenges, `insufficient_scope`, mounts), the API version header everywhere, spec
answers for bad references, ranges, sha512 manifests, deletes that would break a tag, names
and namespaces that clients show, the catalog under a token, and bad input that was a 500."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.fakes.oci import build_image
from tests.fakes.server import RunningServer
from tests.fakes.skopeo import skopeo
from tests.integration.accounts_helpers import (
    PASSWORD,
    create_org,
    create_user,
)
from tests.integration.registry_helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    digest,
    error_code,
    image_manifest,
    no_5xx,
    push,
    put_manifest,
    upload,
)

API_VERSION = "registry/2.0"


def _never_5xx(response: httpx.Response) -> None:
    response.read()
    no_5xx(response)


@pytest.fixture(scope="module")
def admin(module_server: RunningServer) -> Iterator[httpx.Client]:
    with module_server.client(auth=module_server.admin_auth) as client:
        client.event_hooks["response"] = [_never_5xx]
        create_user(client, "hreader")
        create_user(client, "hwriter")
        create_org(client, "horg")
        yield client


def _challenge(response: httpx.Response) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: Bearer k="v",…` header."""
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer "), header
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def _token(server: RunningServer, params: dict[str, str], user: tuple[str, str]) -> str:
    """What a client does with a challenge: ask the realm for its service and scope."""
    response = httpx.get(
        params["realm"],
        params={"service": params["service"], "scope": params["scope"].split(" ")},
        auth=user,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- item 1: the token realm is always an absolute URL --------------------------------------


def test_realm_from_a_bare_external_host_is_a_url_and_skopeo_logs_in(
    tmp_path: Path, server_factory: ServerFactory
) -> None:
    srv = server_factory(env={"DOCKYARD_TRUST_PROXY_HEADERS": "true"}, start=False)
    srv.env["DOCKYARD_EXTERNAL_URL"] = srv.host  # a host, as the docs say: no scheme
    srv.start()
    r = httpx.get(f"{srv.url}/v2/")
    assert r.status_code == 401
    assert _challenge(r)["realm"] == f"http://{srv.host}/auth/token"
    # Behind a TLS proxy that this server is told to trust, the realm follows its scheme.
    r = httpx.get(f"{srv.url}/v2/", headers={"X-Forwarded-Proto": "https"})
    assert _challenge(r)["realm"] == f"https://{srv.host}/auth/token"
    # A real client follows the realm: login, push and pull work.
    authfile = tmp_path / "auth.json"
    login = subprocess.run(
        ["skopeo", "login", "--tls-verify=false", "--authfile", str(authfile), "-u", "admin",
         "--password-stdin", srv.host],
        input=srv.admin_password, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    image = build_image(tmp_path / "img")
    skopeo("copy", "--dest-tls-verify=false", "--authfile", str(authfile), image.ref(),
           f"docker://{srv.host}/admin/realm:v1")  # fmt: skip
    out = tmp_path / "pulled"
    skopeo("copy", "--src-tls-verify=false", "--authfile", str(authfile),
           f"docker://{srv.host}/admin/realm:v1", f"oci:{out}:v1")  # fmt: skip
    assert json.loads((out / "index.json").read_text())["manifests"][0]["digest"] == (
        image.manifest_digest
    )


def test_forwarded_proto_is_ignored_unless_trusted(module_server: RunningServer) -> None:
    r = httpx.get(f"{module_server.url}/v2/", headers={"X-Forwarded-Proto": "https"})
    assert _challenge(r)["realm"] == f"http://{module_server.host}/auth/token"


# -- item 5: a reference that is not a valid tag names no manifest ---------------------------


def test_invalid_tag_reference_is_manifest_unknown(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    push(admin, "admin/reftest", "v1")
    for ref in ("-bad-", "a" * 200, "sha256:short", "bad!tag"):
        r = admin.get(f"/v2/admin/reftest/manifests/{ref}")
        assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN", (ref, r.text)
        assert admin.head(f"/v2/admin/reftest/manifests/{ref}").status_code == 404
    r = admin.delete("/v2/admin/reftest/manifests/-bad-")
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    # The access check comes first: an anonymous caller learns nothing about the repository.
    with module_server.client() as anon:
        assert anon.get("/v2/admin/reftest/manifests/-bad-").status_code == 401


# -- item 6: token-auth semantics ------------------------------------------------------------


def test_every_v2_answer_carries_the_api_version(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    d = push(admin, "admin/version", "v1")
    layer = upload(admin, "admin/version", b"version layer")
    answers = [
        httpx.get(f"{module_server.url}/v2/"),  # 401 challenge
        httpx.get(f"{module_server.url}/v2/admin/version/manifests/v1"),  # 401
        httpx.get(f"{module_server.url}/v2/", headers=_bearer("not-a-jwt")),  # bad token
        admin.get("/v2/"),
        admin.get("/v2/admin/version/manifests/v1"),
        admin.head(f"/v2/admin/version/manifests/{d}"),
        admin.get(f"/v2/admin/version/blobs/{layer}"),  # a file response (pathsend)
        admin.get("/v2/admin/version/manifests/nope"),  # 404
        admin.get("/v2/a/b/c/tags/list"),  # 400 from the fallback
        admin.get("/v2/_catalog"),
        admin.post("/v2/admin/version/blobs/uploads/"),  # 202
    ]
    for r in answers:
        assert r.headers.get("docker-distribution-api-version") == API_VERSION, (
            r.request.method,
            r.request.url.path,
            r.status_code,
        )


def test_upload_session_routes_challenge_for_pull_and_push(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    location = admin.post("/v2/admin/sessions/blobs/uploads/").headers["Location"]
    with module_server.client() as anon:
        for method in ("GET", "PATCH", "PUT", "DELETE"):
            r = anon.request(method, location)
            assert r.status_code == 401, (method, r.text)
            assert _challenge(r)["scope"] == "repository:admin/sessions:pull,push", method
        r = anon.post("/v2/admin/sessions/blobs/uploads/")
        assert _challenge(r)["scope"] == "repository:admin/sessions:pull,push"
        r = anon.head(f"/v2/admin/sessions/blobs/{digest(b'x')}")
        assert _challenge(r)["scope"] == "repository:admin/sessions:pull"
        r = anon.get("/v2/_catalog")
        assert _challenge(r)["scope"] == "registry:catalog:*"


def test_push_following_challenges_like_the_oras_sdk(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    """oras-py with its default token login: HEAD first, take the token the challenge asks
    for, and fetch a new one whenever a request answers 401 insufficient_scope."""
    user = ("hwriter", PASSWORD)
    repo = "hwriter/artifact"  # does not exist yet: the push creates it
    data = b"an artifact"
    d = digest(data)
    with module_server.client() as raw:
        r = raw.head(f"/v2/{repo}/blobs/{d}")
        assert r.status_code == 401
        first = _challenge(r)
        assert first["scope"] == f"repository:{repo}:pull" and "error" not in first
        pull_token = _token(module_server, first, user)
        assert raw.head(f"/v2/{repo}/blobs/{d}", headers=_bearer(pull_token)).status_code == 404
        r = raw.post(f"/v2/{repo}/blobs/uploads/", headers=_bearer(pull_token))
        assert r.status_code == 401 and error_code(r) == "UNAUTHORIZED", r.text
        wider = _challenge(r)
        assert wider["scope"] == f"repository:{repo}:pull,push"
        assert wider["error"] == "insufficient_scope"
        assert "request a token for the scope" in r.text
        push_token = _token(module_server, wider, user)
        r = raw.post(f"/v2/{repo}/blobs/uploads/", headers=_bearer(push_token))
        assert r.status_code == 202, r.text
        r = raw.put(r.headers["Location"], params={"digest": d}, content=data,
                    headers=_bearer(push_token))  # fmt: skip
        assert r.status_code == 201, r.text
        config = upload(admin, repo, b"{}")
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x-demo",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config,
                       "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": d,
                        "size": len(data)}],
        }).encode()  # fmt: skip
        r = raw.put(f"/v2/{repo}/manifests/v1", content=manifest,
                    headers={"Content-Type": OCI_MANIFEST, **_bearer(push_token)})  # fmt: skip
        assert r.status_code == 201, r.text
        # An upload session's status needs the push scope too, and a pull token is told so.
        location = raw.post(f"/v2/{repo}/blobs/uploads/", headers=_bearer(push_token)).headers[
            "Location"
        ]
        r = raw.get(location, headers=_bearer(pull_token))
        assert r.status_code == 401
        assert _challenge(r)["scope"] == f"repository:{repo}:pull,push"
        assert raw.get(location, headers=_bearer(push_token)).status_code == 204


def test_mount_under_token_auth_answers_201(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    push(admin, "hwriter/source", "v1", layer=b"mounted layer")
    layer = digest(b"mounted layer")
    user = ("hwriter", PASSWORD)
    target = "hwriter/target"
    with module_server.client() as raw:
        params = {"mount": layer, "from": "hwriter/source"}
        r = raw.post(f"/v2/{target}/blobs/uploads/", params=params)
        challenge = _challenge(r)
        assert challenge["scope"] == (
            f"repository:{target}:pull,push repository:hwriter/source:pull"
        )
        # A token for the target alone (what a client without the mount in mind holds).
        only_target = _token(
            module_server, {**challenge, "scope": f"repository:{target}:pull,push"}, user
        )
        r = raw.post(f"/v2/{target}/blobs/uploads/", params=params, headers=_bearer(only_target))
        assert r.status_code == 401, r.text
        again = _challenge(r)
        assert again["error"] == "insufficient_scope"
        assert again["scope"] == challenge["scope"]
        both = _token(module_server, again, user)
        r = raw.post(f"/v2/{target}/blobs/uploads/", params=params, headers=_bearer(both))
        assert r.status_code == 201, r.text
        assert r.headers["Docker-Content-Digest"] == layer
        assert raw.head(f"/v2/{target}/blobs/{layer}", headers=_bearer(both)).status_code == 200
        # A source the account cannot read is no reason to fail: a plain session instead.
        push(admin, "admin/closed", "v1", layer=b"closed layer")
        params = {"mount": digest(b"closed layer"), "from": "admin/closed"}
        r = raw.post(f"/v2/{target}/blobs/uploads/", params=params, headers=_bearer(both))
        assert r.status_code == 202, r.text


def test_bearer_tokens_without_the_scope(module_server: RunningServer, admin: httpx.Client) -> None:
    push(admin, "admin/hidden", "v1")
    d = push(admin, "horg/shared", "v1")
    ok = admin.put("/enzi/v0/accounts/horg/members/hreader", json={"isAdmin": False})
    assert ok.status_code in (200, 201), ok.text
    assert admin.post("/enzi/v0/accounts/horg/teams", json={"name": "readers"}).status_code == 201
    admin.put("/enzi/v0/accounts/horg/teams/readers/members/hreader", json={})
    r = admin.put("/api/v0/repositories/horg/shared/teamAccess/readers",
                  json={"accessLevel": "read-only"})  # fmt: skip
    assert r.status_code == 200, r.text
    realm = {"realm": f"{module_server.url}/auth/token", "service": module_server.host}
    reader = ("hreader", PASSWORD)
    with module_server.client() as raw:
        # A repository the account cannot see stays hidden (404), token or not.
        token = _token(module_server, {**realm, "scope": "repository:admin/hidden:pull"}, reader)
        r = raw.get("/v2/admin/hidden/manifests/v1", headers=_bearer(token))
        assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN"
        # One it can see but the token does not name: 401 insufficient_scope, not 404.
        r = raw.get("/v2/horg/shared/manifests/v1", headers=_bearer(token))
        assert r.status_code == 401 and _challenge(r)["error"] == "insufficient_scope"
        assert _challenge(r)["scope"] == "repository:horg/shared:pull"
        # A pull token used to push: 401 naming pull,push (Distribution), not 403.
        token = _token(module_server, {**realm, "scope": "repository:horg/shared:pull"}, reader)
        assert raw.get(f"/v2/horg/shared/manifests/{d}", headers=_bearer(token)).status_code == 200
        r = raw.post("/v2/horg/shared/blobs/uploads/", headers=_bearer(token))
        assert r.status_code == 401, r.text
        assert _challenge(r) | {"realm": "", "service": ""} == {
            "realm": "", "service": "", "scope": "repository:horg/shared:pull,push",
            "error": "insufficient_scope",
        }  # fmt: skip
        # The account itself may only pull: the message says so (a new token will not help).
        assert "may pull from 'horg/shared' but not change it" in r.text
        # Basic credentials keep their answers: 403 for a reader that pushes.
        r = raw.post("/v2/horg/shared/blobs/uploads/", auth=reader)
        assert r.status_code == 403 and error_code(r) == "DENIED"
        # A token that does not verify is an invalid_token.
        r = raw.get("/v2/horg/shared/manifests/v1", headers=_bearer(token[:-4] + "AAAA"))
        assert r.status_code == 401 and _challenge(r)["error"] == "invalid_token"


# -- item 16 (catalog): a token lists only what it grants ------------------------------------


def test_catalog_honours_the_token_scope(module_server: RunningServer, admin: httpx.Client) -> None:
    push(admin, "admin/cat-one", "v1")
    push(admin, "admin/cat-two", "v1")
    realm = {"realm": f"{module_server.url}/auth/token", "service": module_server.host}
    creds = module_server.admin_auth
    with module_server.client() as raw:
        token = _token(module_server, {**realm, "scope": "repository:admin/cat-one:pull"}, creds)
        r = raw.get("/v2/_catalog", headers=_bearer(token))
        assert r.status_code == 200 and r.json()["repositories"] == ["admin/cat-one"]
        token = _token(module_server, {**realm, "scope": "registry:catalog:*"}, creds)
        names = raw.get("/v2/_catalog", headers=_bearer(token)).json()["repositories"]
        assert {"admin/cat-one", "admin/cat-two"} <= set(names)
        # A user's catalog token lists what the user may read, nothing more.
        token = _token(module_server, {**realm, "scope": "registry:catalog:*"},
                       ("hwriter", PASSWORD))  # fmt: skip
        names = raw.get("/v2/_catalog", headers=_bearer(token)).json()["repositories"]
        assert "admin/cat-one" not in names


# -- item 7: an unsatisfiable or malformed Range ---------------------------------------------


def test_bad_range_is_416_json(admin: httpx.Client) -> None:
    data = bytes(range(256)) * 4
    d = upload(admin, "admin/ranges", data)
    for value in ("bytes=500-0", "bytes=5000-", "bytes=0-1,900-800", "lines=1-2"):
        r = admin.get(f"/v2/admin/ranges/blobs/{d}", headers={"Range": value})
        assert r.status_code == 416, (value, r.status_code, r.text)
        assert r.headers["content-type"] == "application/json"
        assert error_code(r) == "RANGE_INVALID" and r.headers["Content-Range"] == "bytes */1024"
    r = admin.get(f"/v2/admin/ranges/blobs/{d}", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    empty = upload(admin, "admin/ranges", b"")
    r = admin.get(f"/v2/admin/ranges/blobs/{empty}", headers={"Range": "bytes=0-10"})
    assert r.status_code == 200 and r.content == b""


# -- item 8: sha512 manifests ----------------------------------------------------------------


def test_manifest_pushed_by_sha512_is_stored_and_served(admin: httpx.Client) -> None:
    body = image_manifest(admin, "admin/sha512", b"sha512 layer")
    ref = "sha512:" + hashlib.sha512(body).hexdigest()
    r = put_manifest(admin, "admin/sha512", ref, body)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == ref
    r = admin.get(f"/v2/admin/sha512/manifests/{ref}")
    assert r.status_code == 200 and r.content == body
    assert r.headers["Docker-Content-Digest"] == ref
    assert admin.head(f"/v2/admin/sha512/manifests/{ref}").status_code == 200
    # An index may list it as a child.
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": ref, "size": len(body)}]}).encode()  # fmt: skip
    assert put_manifest(admin, "admin/sha512", "idx", index, OCI_INDEX).status_code == 201
    # Wrong bytes for the sha512 digest, and algorithms we do not verify: 400.
    r = put_manifest(admin, "admin/sha512", "sha512:" + "0" * 128, body)
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    for bad in ("sha384:" + hashlib.sha384(body).hexdigest(), "md5:abc", "sha256:short"):
        r = put_manifest(admin, "admin/sha512", bad, body)
        assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID", bad


# -- item 9: deletes that would leave a tag pointing at nothing ------------------------------


def _index(*children: dict[str, object]) -> bytes:
    return json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(children)}
    ).encode()


def test_delete_refused_while_a_tag_needs_it(admin: httpx.Client) -> None:
    repo = "admin/keep"
    child_body = image_manifest(admin, repo, b"child layer")
    child = digest(child_body)
    assert put_manifest(admin, repo, child, child_body).status_code == 201
    entry = {"mediaType": OCI_MANIFEST, "digest": child, "size": len(child_body)}
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}).encode()
    assert put_manifest(admin, repo, "multi", index, OCI_INDEX).status_code == 201
    r = admin.delete(f"/v2/{repo}/manifests/{child}")
    assert r.status_code == 409 and error_code(r) == "DENIED", r.text
    assert "multi" in r.json()["errors"][0]["message"]
    # The layer of that child is kept by the same tag, through the index.
    layer = digest(b"child layer")
    r = admin.delete(f"/v2/{repo}/blobs/{layer}")
    assert r.status_code == 409 and error_code(r) == "DENIED"
    assert admin.get("/v2/admin/keep/manifests/multi").status_code == 200
    assert admin.get(f"/v2/{repo}/manifests/{child}").status_code == 200
    # Through nested indexes: the tag is on an index of indexes.
    nested_repo = "admin/keep-nested"
    leaf_body = image_manifest(admin, nested_repo, b"leaf layer")
    leaf = digest(leaf_body)
    assert put_manifest(admin, nested_repo, leaf, leaf_body).status_code == 201
    inner = _index({"mediaType": OCI_MANIFEST, "digest": leaf, "size": len(leaf_body)})
    assert put_manifest(admin, nested_repo, digest(inner), inner, OCI_INDEX).status_code == 201
    outer = _index({"mediaType": OCI_INDEX, "digest": digest(inner), "size": len(inner)})
    assert put_manifest(admin, nested_repo, "top", outer, OCI_INDEX).status_code == 201
    for path in (
        f"manifests/{leaf}",
        f"manifests/{digest(inner)}",
        "blobs/" + digest(b"leaf layer"),
    ):
        r = admin.delete(f"/v2/{nested_repo}/{path}")
        assert r.status_code == 409 and "'top'" in r.json()["errors"][0]["message"], path
    # An untagged index keeps nothing: gc may take it, and a delete of its child goes through.
    assert admin.delete(f"/v2/{nested_repo}/manifests/top").status_code == 202
    assert admin.delete(f"/v2/{nested_repo}/manifests/{leaf}").status_code == 202
    # A tagged image's own blobs too.
    image = push(admin, repo, "solo", layer=b"solo layer")
    r = admin.delete(f"/v2/{repo}/blobs/{digest(b'solo layer')}")
    assert r.status_code == 409 and "solo" in r.json()["errors"][0]["message"]
    # Once the tags are gone, the deletes go through.
    assert admin.delete(f"/v2/{repo}/manifests/multi").status_code == 202
    assert admin.delete(f"/v2/{repo}/manifests/{child}").status_code == 202
    assert admin.delete(f"/v2/{repo}/blobs/{layer}").status_code == 202
    assert admin.delete(f"/v2/{repo}/manifests/{image}").status_code == 202
    assert admin.delete(f"/v2/{repo}/blobs/{digest(b'solo layer')}").status_code == 202


# -- item 26: names and namespaces that clients show -----------------------------------------


def test_skopeo_shows_what_is_wrong_with_the_name(
    tmp_path: Path, module_server: RunningServer, admin: httpx.Client
) -> None:
    image = build_image(tmp_path / "img")
    creds = f"admin:{module_server.admin_password}"
    for name, expected in (
        ("nosuchns/app:v1", "namespace 'nosuchns' does not exist"),
        ("a/b/c:v1", "repository names are namespace/repository"),
    ):
        result = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, image.ref(),
                        f"docker://{module_server.host}/{name}", check=False)  # fmt: skip
        assert result.returncode != 0
        assert expected in result.stderr, result.stderr
    r = admin.put("/v2/nosuchns/app/manifests/v1", content=b"{}")
    assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN"
    assert "namespace 'nosuchns' does not exist" in r.json()["errors"][0]["message"]
    r = admin.post("/v2/a/b/c/blobs/uploads/")
    assert r.status_code == 400 and error_code(r) == "NAME_INVALID"
    assert "repository names are namespace/repository" in r.json()["errors"][0]["message"]


# -- item 18 (/v2): bad input that was a 500 -------------------------------------------------


def test_bad_input_that_was_a_500(admin: httpx.Client) -> None:
    push(admin, "admin/badinput", "v1")
    r = admin.get("/v2/admin/badinput/tags/list", params={"n": 0})
    assert r.status_code == 200 and r.json() == {"name": "admin/badinput", "tags": []}
    assert admin.get("/v2/_catalog", params={"n": 0}).json() == {"repositories": []}
    nested = b"[" * 100_000 + b"]" * 100_000
    r = put_manifest(admin, "admin/badinput", "nested", nested)
    assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID"
    deep = b'{"schemaVersion": 2, "config": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001
    r = put_manifest(admin, "admin/badinput", "nested2", deep)
    assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID"
    for size in (2**63, 2**64 + 5, -1):
        doc = json.loads(image_manifest(admin, "admin/badinput", b"big"))
        doc["layers"][0]["size"] = size
        r = put_manifest(admin, "admin/badinput", "big", json.dumps(doc).encode())
        assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID", size
    # Two int64 sizes that overflow together are still a valid manifest.
    doc = json.loads(image_manifest(admin, "admin/badinput", b"big"))
    doc["config"]["size"] = doc["layers"][0]["size"] = 2**63 - 1
    r = put_manifest(admin, "admin/badinput", "huge", json.dumps(doc).encode())
    assert r.status_code == 201, r.text
