"""The /v2 protocol over raw HTTP: uploads (monolithic, chunked, resumable status, cancel,
mount), manifests (validation, negotiation, referrers, delete), lists, access answers, events,
and bad input that must get the spec's error code (never a 500)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.fakes.server import RunningServer
from tests.integration.registry_helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    digest,
    error_code,
    events,
    image_manifest,
    no_5xx,
    push,
    put_manifest,
    repo_counts,
    set_repository,
    upload,
)


def _never_5xx(response: httpx.Response) -> None:
    response.read()
    no_5xx(response)


@pytest.fixture(scope="module")
def admin(module_server: RunningServer) -> Iterator[httpx.Client]:
    with module_server.client(auth=module_server.admin_auth) as client:
        client.event_hooks["response"] = [_never_5xx]
        yield client


def test_version_check_and_anonymous(module_server: RunningServer, admin: httpx.Client) -> None:
    r = admin.get("/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    with module_server.client() as anon:
        r = anon.get("/v2/")
        assert r.status_code == 401 and "WWW-Authenticate" in r.headers
        push(admin, "admin/private1", "v1")
        r = anon.get("/v2/admin/private1/manifests/v1")
        assert r.status_code == 401 and error_code(r) == "UNAUTHORIZED"
        assert "WWW-Authenticate" in r.headers
    with module_server.client(auth=("admin", "wrong")) as bad:
        assert bad.get("/v2/").status_code == 401


def test_monolithic_upload_head_get_range_delete(admin: httpx.Client) -> None:
    data = os.urandom(200_000)
    d = upload(admin, "admin/mono", data)
    r = admin.head(f"/v2/admin/mono/blobs/{d}")
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(data))
    assert r.headers["Docker-Content-Digest"] == d
    r = admin.get(f"/v2/admin/mono/blobs/{d}")
    assert r.content == data
    r = admin.get(f"/v2/admin/mono/blobs/{d}", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    # Not linked in another repository: unknown there.
    push(admin, "admin/other", "v1")
    r = admin.head(f"/v2/admin/other/blobs/{d}")
    assert r.status_code == 404
    r = admin.get(f"/v2/admin/other/blobs/{d}")
    assert error_code(r) == "BLOB_UNKNOWN"
    assert admin.delete(f"/v2/admin/mono/blobs/{d}").status_code == 202
    assert admin.head(f"/v2/admin/mono/blobs/{d}").status_code == 404


def test_chunked_upload_with_out_of_order_chunk(admin: httpx.Client) -> None:
    data = os.urandom(300_000)
    r = admin.post("/v2/admin/chunked/blobs/uploads/")
    assert r.status_code == 202
    location = r.headers["Location"]
    assert r.headers["Range"] == "0-0"
    r = admin.patch(
        location,
        content=data[:100_000],
        headers={"Content-Range": "0-99999", "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 202 and r.headers["Range"] == "0-99999"
    location = r.headers["Location"]
    r = admin.patch(location, content=data[200_000:], headers={"Content-Range": "200000-299999"})
    assert r.status_code == 416 and error_code(r) == "RANGE_INVALID"
    r = admin.get(location)
    assert r.status_code == 204 and r.headers["Range"] == "0-99999"
    r = admin.patch(location, content=data[100_000:200_000])  # streamed, no Content-Range
    assert r.status_code == 202 and r.headers["Range"] == "0-199999"
    r = admin.put(location, params={"digest": digest(data)}, content=data[200_000:])
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest(data)
    assert admin.get(r.headers["Location"]).content == data
    assert admin.get(location).status_code == 404  # the session is gone


def test_wrong_digest_and_cancel(admin: httpx.Client) -> None:
    r = admin.post("/v2/admin/cancel/blobs/uploads/")
    location = r.headers["Location"]
    admin.patch(location, content=b"hello")
    wrong = digest(b"not hello")
    r = admin.put(location, params={"digest": wrong})
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    assert admin.head(f"/v2/admin/cancel/blobs/{wrong}").status_code == 404
    assert admin.delete(location).status_code == 204
    r = admin.get(location)
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    r = admin.post("/v2/admin/cancel/blobs/uploads/", params={"digest": wrong}, content=b"x")
    assert error_code(r) == "DIGEST_INVALID"
    r = admin.patch("/v2/admin/cancel/blobs/uploads/not-a-uuid", content=b"x")
    assert error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def test_cross_repository_mount(admin: httpx.Client) -> None:
    d = upload(admin, "admin/mount-src", b"shared layer")
    r = admin.post(
        "/v2/admin/mount-dst/blobs/uploads/", params={"mount": d, "from": "admin/mount-src"}
    )
    assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == d
    assert admin.get(f"/v2/admin/mount-dst/blobs/{d}").content == b"shared layer"
    missing = digest(b"nowhere")
    r = admin.post(
        "/v2/admin/mount-dst/blobs/uploads/", params={"mount": missing, "from": "admin/mount-src"}
    )
    assert r.status_code == 202 and "Location" in r.headers


def test_manifest_push_pull_and_headers(module_server: RunningServer, admin: httpx.Client) -> None:
    body = image_manifest(admin, "admin/app", b"app layer", arch="arm64")
    r = put_manifest(admin, "admin/app", "v1", body)
    assert r.status_code == 201
    d = digest(body)
    assert r.headers["Docker-Content-Digest"] == d
    for ref in ("v1", d):
        r = admin.get(f"/v2/admin/app/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200 and r.content == body
        assert r.headers["Content-Type"] == OCI_MANIFEST
        assert r.headers["Docker-Content-Digest"] == d
        h = admin.head(f"/v2/admin/app/manifests/{ref}")
        assert h.status_code == 200 and h.headers["Content-Length"] == str(len(body))
    r = admin.get(
        "/v2/admin/app/manifests/v1",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    assert admin.get("/v2/admin/app/manifests/nope").status_code == 404
    kinds = [t for t, _p in events(module_server.database_url, "admin/app")]
    assert kinds.count("TAG_PUSH") == 1 and kinds.count("MANIFEST_PUSH") == 1
    # No subscription could consume a pull: none is recorded (DOCKYARD_PULL_EVENTS).
    assert kinds.count("TAG_PULL") == 0 and kinds.count("MANIFEST_PULL") == 0
    push_event = next(
        p for t, p in events(module_server.database_url, "admin/app") if t == "TAG_PUSH"
    )
    assert push_event["contents"]["architecture"] == "arm64"
    assert push_event["contents"]["author"] == "admin"
    assert push_event["contents"]["imageName"] == f"{module_server.host}/admin/app:v1"
    # Pull counts are written by each worker at most a second later: wait for them, bounded.
    for _ in range(100):
        if repo_counts(module_server.database_url, "admin/app") == (2, 1):
            break
        time.sleep(0.1)
    assert repo_counts(module_server.database_url, "admin/app") == (2, 1)


def test_manifest_errors(admin: httpx.Client) -> None:
    body = image_manifest(admin, "admin/bad")
    missing = json.loads(body)
    missing["layers"][0]["digest"] = digest(b"never uploaded")
    r = put_manifest(admin, "admin/bad", "v1", json.dumps(missing).encode())
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    r = put_manifest(admin, "admin/bad", "v1", b"{not json")
    assert error_code(r) == "MANIFEST_INVALID"
    r = put_manifest(admin, "admin/bad", "v1", body, media_type="text/plain")
    assert error_code(r) == "MANIFEST_INVALID"
    r = put_manifest(admin, "admin/bad", "v1", body, media_type=OCI_INDEX)
    assert error_code(r) == "MANIFEST_INVALID"
    r = put_manifest(admin, "admin/bad", digest(b"other"), body)
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    r = put_manifest(admin, "admin/bad", "bad:tag!", body)
    assert r.status_code == 400
    r = put_manifest(admin, "admin/bad", "v1", b" " * (4 * 1024 * 1024 + 1))
    assert r.status_code == 413 and error_code(r) == "MANIFEST_TOO_LARGE"
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest(b"absent"), "size": 5}],
    }
    r = put_manifest(admin, "admin/bad", "idx", json.dumps(index).encode(), OCI_INDEX)
    assert error_code(r) == "MANIFEST_BLOB_UNKNOWN"


def test_bad_names_and_digests(module_server: RunningServer, admin: httpx.Client) -> None:
    for path in (
        "/v2/admin/UPPER/manifests/latest",
        "/v2/a/b/c/manifests/latest",
        "/v2/admin/..%2f..%2fetc/manifests/latest",
        "/v2/admin/%2e%2e/blobs/uploads/",
        "/v2/onlyone/tags/list",
    ):
        r = admin.get(path) if "uploads" not in path else admin.post(path)
        assert r.status_code in (400, 404), path
        assert error_code(r) in ("NAME_INVALID", "NAME_UNKNOWN"), path
    r = admin.get("/v2/admin/app2/blobs/sha256:nothex")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    r = admin.get("/v2/admin/app2/blobs/sha256:" + "0" * 64)
    assert error_code(r) in ("NAME_UNKNOWN", "BLOB_UNKNOWN")
    r = admin.get("/v2/nobody/nothing/tags/list")
    assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN"
    # Raw request: no client-side normalisation of the traversal.
    with httpx.Client(base_url=module_server.url, auth=module_server.admin_auth) as raw:
        r = raw.send(
            raw.build_request(
                "GET", httpx.URL(module_server.url + "/v2/admin/../../etc/passwd/manifests/x")
            )
        )
        assert r.status_code in (400, 404)


def test_tags_list_pagination_and_catalog(admin: httpx.Client) -> None:
    for tag in ("c", "a", "b", "d"):
        push(admin, "admin/paged", tag)
    r = admin.get("/v2/admin/paged/tags/list")
    assert r.json() == {"name": "admin/paged", "tags": ["a", "b", "c", "d"]}
    r = admin.get("/v2/admin/paged/tags/list", params={"n": 2})
    assert r.json()["tags"] == ["a", "b"]
    assert 'rel="next"' in r.headers["Link"] and "last=b" in r.headers["Link"]
    r = admin.get("/v2/admin/paged/tags/list", params={"n": 2, "last": "b"})
    assert r.json()["tags"] == ["c", "d"]
    assert "Link" not in r.headers
    r = admin.get("/v2/_catalog")
    names = r.json()["repositories"]
    assert "admin/paged" in names and names == sorted(names)
    r = admin.get("/v2/_catalog", params={"n": 1})
    assert len(r.json()["repositories"]) == 1 and "Link" in r.headers
    r = admin.get("/v2/_catalog", params={"n": 1, "last": r.json()["repositories"][0]})
    assert r.json()["repositories"][0] == names[1]


def test_referrers(admin: httpx.Client) -> None:
    subject = push(admin, "admin/ref", "v1")
    subject_size = len(admin.get("/v2/admin/ref/manifests/v1").content)
    empty = upload(admin, "admin/ref", b"{}")
    for kind in ("application/x-sig", "application/x-sbom"):
        art = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": kind,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": empty,
                "size": 2,
            },
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_size},
            "annotations": {"kind": kind},
        }
        body = json.dumps(art).encode()
        r = put_manifest(admin, "admin/ref", digest(body), body)
        assert r.status_code == 201 and r.headers["OCI-Subject"] == subject
    r = admin.get(f"/v2/admin/ref/referrers/{subject}")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(OCI_INDEX)
    assert {m["artifactType"] for m in r.json()["manifests"]} == {
        "application/x-sig",
        "application/x-sbom",
    }
    r = admin.get(
        f"/v2/admin/ref/referrers/{subject}", params={"artifactType": "application/x-sig"}
    )
    assert [m["annotations"]["kind"] for m in r.json()["manifests"]] == ["application/x-sig"]
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    r = admin.get(f"/v2/admin/ref/referrers/{digest(b'none')}")
    assert r.json()["manifests"] == []


def test_delete_by_digest_removes_tags_with_events(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    d = push(admin, "admin/del", "one")
    body = admin.get(f"/v2/admin/del/manifests/{d}").content
    assert put_manifest(admin, "admin/del", "two", body).status_code == 201
    assert admin.delete("/v2/admin/del/manifests/two").status_code == 202
    assert admin.get("/v2/admin/del/tags/list").json()["tags"] == ["one"]
    assert admin.delete(f"/v2/admin/del/manifests/{d}").status_code == 202
    assert admin.get("/v2/admin/del/tags/list").json()["tags"] == []
    assert admin.get(f"/v2/admin/del/manifests/{d}").status_code == 404
    assert admin.delete(f"/v2/admin/del/manifests/{d}").status_code == 404
    kinds = [t for t, _p in events(module_server.database_url, "admin/del")]
    assert kinds.count("TAG_DELETE") == 2 and kinds.count("MANIFEST_DELETE") == 1
    assert kinds[-1] == "MANIFEST_DELETE"


def test_immutable_tags_and_tag_limit(module_server: RunningServer, admin: httpx.Client) -> None:
    push(admin, "admin/immut", "v1", b"first")
    set_repository(module_server.database_url, "admin/immut", "immutable_tags", True)
    body = image_manifest(admin, "admin/immut", b"second")
    r = put_manifest(admin, "admin/immut", "v1", body)
    assert r.status_code == 409 and error_code(r) == "TAG_IMMUTABLE"
    assert put_manifest(admin, "admin/immut", "v2", body).status_code == 201

    push(admin, "admin/limited", "t1", b"1")
    set_repository(module_server.database_url, "admin/limited", "tag_limit", 2)
    push(admin, "admin/limited", "t2", b"2")
    push(admin, "admin/limited", "t3", b"3")
    assert admin.get("/v2/admin/limited/tags/list").json()["tags"] == ["t2", "t3"]
    deleted = [
        p["contents"]["tag"]
        for t, p in events(module_server.database_url, "admin/limited")
        if t == "TAG_DELETE"
    ]
    assert deleted == ["t1"]


def test_index_push_one_tag_push(module_server: RunningServer, admin: httpx.Client) -> None:
    children = []
    for arch in ("amd64", "arm64"):
        body = image_manifest(admin, "admin/multi", arch.encode(), arch=arch)
        assert put_manifest(admin, "admin/multi", digest(body), body).status_code == 201
        children.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest(body),
                "size": len(body),
                "platform": {"os": "linux", "architecture": arch},
            }
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})
    assert (
        put_manifest(admin, "admin/multi", "latest", index.encode(), OCI_INDEX).status_code == 201
    )
    found = events(module_server.database_url, "admin/multi")
    tag_pushes = [p for t, p in found if t == "TAG_PUSH"]
    assert len(tag_pushes) == 1
    assert tag_pushes[0]["contents"]["os"] == "" and tag_pushes[0]["contents"]["architecture"] == ""
    assert [t for t, _p in found].count("MANIFEST_PUSH") == 3


def test_access_answers_for_another_user(module_server: RunningServer, admin: httpx.Client) -> None:
    from tests.integration.accounts_helpers import PASSWORD, create_user

    create_user(admin, "bob")
    push(admin, "admin/secret", "v1")
    push(admin, "admin/pub", "v1")
    set_repository(module_server.database_url, "admin/pub", "visibility", "public")
    with module_server.client(auth=("bob", PASSWORD)) as bob:
        r = bob.get("/v2/admin/secret/manifests/v1")
        assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN"
        assert bob.get("/v2/admin/pub/manifests/v1").status_code == 200
        r = bob.post("/v2/admin/pub/blobs/uploads/")
        assert r.status_code == 403 and error_code(r) == "DENIED"
        r = bob.post("/v2/admin/brand-new/blobs/uploads/")
        assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN"
        # Their own namespace: the repository is created, private.
        push(bob, "bob/mine", "v1")
        assert bob.get("/v2/bob/mine/tags/list").json()["tags"] == ["v1"]
        assert "bob/mine" in bob.get("/v2/_catalog").json()["repositories"]
        assert "admin/secret" not in bob.get("/v2/_catalog").json()["repositories"]
    created = [p for t, p in events(module_server.database_url, "bob/mine") if t == "REPO_EVENT"]
    assert len(created) == 1 and created[0]["contents"]["event"] == "REPO_CREATED"
    assert created[0]["contents"]["data"]["visibility"] == "private"


def test_pull_counts_held_in_memory_are_written_at_a_clean_stop(
    server_factory: ServerFactory,
) -> None:
    """A worker sums pull counts for up to a second; SIGTERM must write what it holds."""
    server = server_factory(env={"DOCKYARD_LOG_LEVEL": "INFO"})
    with server.client(auth=server.admin_auth) as client:
        body = image_manifest(client, "admin/counted", b"counted layer")
        assert put_manifest(client, "admin/counted", "v1", body).status_code == 201
        for _ in range(3):
            r = client.get("/v2/admin/counted/manifests/v1", headers={"Accept": OCI_MANIFEST})
            assert r.status_code == 200
    server.stop()  # at once: well within the second a count may wait in memory
    assert repo_counts(server.database_url, "admin/counted") == (3, 1)
