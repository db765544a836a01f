"""Issue 8, pure parts of the registry: the token realm and the scopes a request's challenge
names, Range checks, manifest limits (nesting, int64 sizes) and the catalog grant in tokens."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from starlette.requests import Request

from dockyard.auth.tokens import (
    CATALOG_SCOPE,
    Scope,
    issue_token,
    load_or_create_key,
    scopes_from_claims,
    verify_token,
)
from dockyard.config import Settings
from dockyard.errors import ErrorCode
from dockyard.registry.challenge import challenge, external_base, needed_scopes
from dockyard.registry.mediatypes import (
    OCI_CONFIG,
    OCI_MANIFEST,
    ManifestError,
    parse_manifest,
    platform_of_config,
)
from dockyard.registry.ranges import RangeError, check_ranges, parse_range

HOST = "127.0.0.1:5000"


def _request(
    path: str = "/v2/",
    method: str = "GET",
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    scheme: str = "http",
    **settings: object,
) -> Request:
    app = SimpleNamespace(state=SimpleNamespace(settings=Settings(**settings)))  # type: ignore[arg-type]
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if not any(k == b"host" for k, _ in raw_headers):
        raw_headers.append((b"host", HOST.encode()))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": urlencode(query or {}).encode(),
        "headers": raw_headers,
        "scheme": scheme,
        "server": ("127.0.0.1", 5000),
        "app": app,
    }
    return Request(scope)


# -- the realm -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("external", "trust", "forwarded", "expected"),
    [
        ("registry.example.com", False, None, "http://registry.example.com"),
        ("registry.example.com/", False, "https", "http://registry.example.com"),
        ("registry.example.com", True, "https", "https://registry.example.com"),
        ("registry.example.com", True, "https, http", "https://registry.example.com"),
        ("registry.example.com", True, "gopher", "http://registry.example.com"),
        ("https://registry.example.com", False, None, "https://registry.example.com"),
        ("HTTP://registry.example.com:8443/", True, "https", "http://registry.example.com:8443"),
        ("", False, "https", f"http://{HOST}"),
        ("", True, "https", f"https://{HOST}"),
    ],
)
def test_external_base_is_an_absolute_url(
    external: str, trust: bool, forwarded: str | None, expected: str
) -> None:
    headers = {"X-Forwarded-Proto": forwarded} if forwarded else {}
    request = _request(headers=headers, external_url=external, trust_proxy_headers=trust)
    assert external_base(request) == expected


def test_external_base_follows_the_request_scheme_and_keeps_quotes_out() -> None:
    assert external_base(_request(scheme="https")) == f"https://{HOST}"
    request = _request(headers={"Host": 'evil",error="x'})
    assert '"' not in external_base(request)


def test_registry_host_for_image_names_is_unchanged() -> None:
    assert Settings(external_url="https://registry.example.com/").registry_host == (
        "registry.example.com"
    )
    assert Settings(external_url="registry.example.com").registry_host == "registry.example.com"


# -- the scopes a challenge names ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/v2/", {}, []),
        ("GET", "/v2/_catalog", {}, ["registry:catalog:*"]),
        ("GET", "/v2/ns/app/manifests/v1", {}, ["repository:ns/app:pull"]),
        ("HEAD", "/v2/ns/app/blobs/sha256:x", {}, ["repository:ns/app:pull"]),
        ("GET", "/v2/ns/app/tags/list", {}, ["repository:ns/app:pull"]),
        ("PUT", "/v2/ns/app/manifests/v1", {}, ["repository:ns/app:pull,push"]),
        ("DELETE", "/v2/ns/app/manifests/sha256:x", {}, ["repository:ns/app:delete"]),
        ("POST", "/v2/ns/app/blobs/uploads/", {}, ["repository:ns/app:pull,push"]),
        ("GET", "/v2/ns/app/blobs/uploads/u1", {}, ["repository:ns/app:pull,push"]),
        ("DELETE", "/v2/ns/app/blobs/uploads/u1", {}, ["repository:ns/app:pull,push"]),
        ("PATCH", "/v2/ns/app/blobs/uploads/u1", {}, ["repository:ns/app:pull,push"]),
        ("PUT", "/v2/ns/app/blobs/uploads/u1", {"digest": "d"}, ["repository:ns/app:pull,push"]),
        (
            "POST",
            "/v2/ns/app/blobs/uploads/",
            {"mount": "sha256:x", "from": "other/src"},
            ["repository:ns/app:pull,push", "repository:other/src:pull"],
        ),
        # `from` without `mount` is no mount; a quote could break the header.
        ("POST", "/v2/ns/app/blobs/uploads/", {"from": "o/s"}, ["repository:ns/app:pull,push"]),
        (
            "POST",
            "/v2/ns/app/blobs/uploads/",
            {"mount": "sha256:x", "from": 'o/s" x'},
            ["repository:ns/app:pull,push"],
        ),
    ],
)
def test_needed_scopes(method: str, path: str, query: dict[str, str], expected: list[str]) -> None:
    assert needed_scopes(_request(path, method, query)) == expected


def test_challenge_errors_follow_the_bearer_token() -> None:
    plain = challenge(_request("/v2/ns/app/manifests/v1"))
    assert plain == (
        f'Bearer realm="http://{HOST}/auth/token",service="{HOST}",scope="repository:ns/app:pull"'
    )
    bearer = {"Authorization": "Bearer abc"}
    # The token did not verify: get_principal never cached a principal.
    invalid = challenge(_request("/v2/ns/app/manifests/v1", headers=bearer))
    assert invalid.endswith(',error="invalid_token"')
    # It verified (a principal, or anonymous None, is cached) but lacks the scope.
    request = _request("/v2/ns/app/manifests/v1", headers=bearer)
    request.state.principal = None
    assert challenge(request).endswith(',error="insufficient_scope"')
    # No scope to name (the version check): no insufficient_scope either.
    request = _request("/v2/", headers=bearer)
    request.state.principal = None
    assert "error=" not in challenge(request)
    assert challenge(_request(registry_token_auth=False)) == 'Basic realm="dockyard"'


# -- catalog grant in tokens -----------------------------------------------------------------


def test_catalog_grant_reaches_the_principal_scopes(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path)
    token, _, _ = issue_token(
        key,
        service=HOST,
        subject="alice",
        access=[
            Scope("repository", "ns/app", frozenset({"pull"})),
            Scope("registry", "catalog", frozenset({"*"})),
        ],
    )
    scopes = scopes_from_claims(verify_token(key, token, service=HOST))
    assert scopes == (("ns/app", frozenset({"pull"})), (CATALOG_SCOPE, frozenset({"*"})))
    token, _, _ = issue_token(
        key, service=HOST, subject="alice", access=[Scope("repository", "ns/app", frozenset())]
    )
    assert scopes_from_claims(verify_token(key, token, service=HOST)) == (("ns/app", frozenset()),)


# -- ranges ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["bytes=0-9", "bytes=-5", "bytes=90-", "bytes=0-1, 5-9", "bytes=0-1000"]
)
def test_check_ranges_accepts(value: str) -> None:
    check_ranges(value, 100)


@pytest.mark.parametrize(
    "value",
    ["bytes=500-0", "bytes=100-", "bytes=0-1,50-40", "items=0-1", "bytes", "bytes=a-b",
     "bytes=" + ",".join(["0-1"] * 101)],
)  # fmt: skip
def test_check_ranges_refuses(value: str) -> None:
    with pytest.raises(RangeError):
        check_ranges(value, 100)


def test_range_messages_say_what_is_wrong() -> None:
    with pytest.raises(RangeError, match="ends before it starts"):
        parse_range("bytes=500-0", 1000)
    with pytest.raises(RangeError, match="outside"):
        parse_range("bytes=1000-", 1000)


# -- manifests -------------------------------------------------------------------------------


def _image(size: object) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": "sha256:" + "a" * 64, "size": 2},
            "layers": [{"mediaType": "x", "digest": "sha512:" + "b" * 128, "size": size}],
        }
    ).encode()


def test_descriptor_sizes_are_int64() -> None:
    assert parse_manifest(_image(2**63 - 1), OCI_MANIFEST).layers[0].size == 2**63 - 1
    for size in (2**63, -1, 1.5, True, "1"):
        with pytest.raises(ManifestError) as caught:
            parse_manifest(_image(size), OCI_MANIFEST)
        assert caught.value.code is ErrorCode.MANIFEST_INVALID


def test_deeply_nested_json_is_an_invalid_manifest() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(b"[" * 200_000 + b"]" * 200_000, OCI_MANIFEST)
    assert caught.value.code is ErrorCode.MANIFEST_INVALID
    assert platform_of_config(b'{"a":' * 200_000 + b"1" + b"}" * 200_000) == ("", "")
