"""The webhooks API in the OpenAPI document: each operation has its request body (with the seed's
example for POST /api/v0/webhooks), a 2xx answer schema and its error answers, and no 422; and
the example body the API explorer sends creates a webhook."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from dockyard.app import create_app
from dockyard.config import Settings
from tests.fakes.inprocess import inprocess_app

# (method, path) -> takes a body
OPERATIONS = {
    ("post", "/api/v0/webhooks"): True,
    ("get", "/api/v0/webhooks"): False,
    ("get", "/api/v0/webhooks/schemas/{event_type}"): False,
    ("post", "/api/v0/webhooks/update"): True,
    ("post", "/api/v0/webhooks/test"): True,
    ("get", "/api/v0/webhooks/{webhook_id}"): False,
    ("patch", "/api/v0/webhooks/{webhook_id}"): True,
    ("delete", "/api/v0/webhooks/{webhook_id}"): False,
    ("post", "/api/v0/webhooks/{webhook_id}/rotateSecret"): False,
    ("get", "/api/v0/webhooks/{webhook_id}/deliveries"): False,
    ("get", "/api/v0/webhooks/{webhook_id}/deliveries/{delivery_id}"): False,
    ("post", "/api/v0/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): False,
    ("post", "/api/v0/webhooks/{webhook_id}/redeliver"): True,
    ("post", "/api/v0/webhooks/{webhook_id}/replay"): True,
    ("post", "/api/v0/webhooks/{webhook_id}/test"): False,
    ("get", "/api/v0/repositories/{namespace}/{repository}/webhooks"): False,
    ("get", "/api/v0/repositories/{namespace}/webhooks"): False,
    ("get", "/api/v0/accounts/{namespace}/webhooks"): False,
}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("openapi")
    app = create_app(Settings(data_dir=data, run_workers=False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        document = app.openapi()
    # Other domains' warnings are theirs to fix; none may name a webhooks operation.
    assert not [w for w in caught if "webhook" in str(w.message).lower()]
    return document


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None and schema.get("type") == "array":
        return _resolve(document, schema["items"])
    if ref is None:
        return schema
    found: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return found


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_operation_is_typed(document: dict[str, Any], method: str, path: str) -> None:
    operation = document["paths"][path][method]
    assert operation.get("summary") and "webhooks" in operation["tags"]
    assert "422" not in operation["responses"]
    body = operation.get("requestBody")
    if OPERATIONS[(method, path)]:
        media = body["content"]["application/json"]
        assert media["schema"] and media["example"]
    else:
        assert body is None
    answers = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
    assert answers, operation["responses"]
    for code, answer in answers.items():
        if code == "204":
            continue
        schema = answer["content"]["application/json"]["schema"]
        assert _resolve(document, schema).get("properties") or schema.get("additionalProperties")
    assert any(code.startswith("4") for code in operation["responses"])


def test_create_offers_the_seed_example(document: dict[str, Any]) -> None:
    media = document["paths"]["/api/v0/webhooks"]["post"]["requestBody"]["content"]
    example = media["application/json"]["example"]
    assert example == {"type": "TAG_PUSH", "key": "foo/bar", "endpoint": "https://example.com"}
    answer = document["paths"]["/api/v0/webhooks"]["post"]["responses"]["201"]
    schema = _resolve(document, answer["content"]["application/json"]["schema"])
    assert {"id", "authorID", "lastSuccessfulAt", "skipTLSVerification", "secret"} <= set(
        schema["properties"]
    )


async def test_the_explorer_example_creates_a_webhook(tmp_path: Path, database_url: str) -> None:
    # No blocked networks: the check would resolve example.com, which a test must not need.
    async with inprocess_app(
        tmp_path / "data", database_url, webhook_blocked_networks=""
    ) as running:
        c = running.client
        made = await c.post("/enzi/v0/accounts", json={"name": "foo", "isOrg": True})
        assert made.status_code == 201, made.text
        repo = await c.post("/api/v0/repositories/foo", json={"name": "bar"})
        assert repo.status_code == 201, repo.text
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # other domains' warnings are theirs
            paths = running.app.openapi()["paths"]
        media = paths["/api/v0/webhooks"]["post"]["requestBody"]["content"]["application/json"]
        created = await c.post("/api/v0/webhooks", json=media["example"])
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["type"], body["key"], body["endpoint"]) == (
            "TAG_PUSH",
            "foo/bar",
            "https://example.com",
        )
        assert body["secret"].startswith("whsec_")
        # MSR scripts send `curl -d` bodies, whose content type is a form's: still JSON.
        as_form = await c.post(
            "/api/v0/webhooks",
            content=json.dumps({**media["example"], "type": "TAG_PULL"}),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert as_form.status_code == 201, as_form.text
        listed = await c.get("/api/v0/repositories/foo/bar/webhooks")
        assert {w["id"] for w in listed.json()} == {body["id"], as_form.json()["id"]}
        assert not [w for w in listed.json() if "secret" in w]
