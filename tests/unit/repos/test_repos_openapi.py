"""The repositories API in the OpenAPI document: each operation has a summary, its request body
where it takes one (with an example), a 2xx answer schema (204s answer no body), its error
answers in the envelope, and no 422 (the API answers validation errors with 400)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from dockyard.app import create_app
from dockyard.config import Settings

_REPO = "/api/v0/repositories/{namespace}/{name}"
_NS_ACCESS = "/api/v0/repositoryNamespaces/{namespace}/teamAccess"
# (method, path) -> takes a body
OPERATIONS = {
    ("get", "/api/v0/repositories"): False,
    ("get", "/api/v0/repositories/{namespace}"): False,
    ("post", "/api/v0/repositories/{namespace}"): True,
    ("get", _REPO): False,
    ("patch", _REPO): True,
    ("delete", _REPO): False,
    ("get", f"{_REPO}/tags"): False,
    ("get", f"{_REPO}/tags/{{reference}}"): False,
    ("delete", f"{_REPO}/tags/{{tag}}"): False,
    ("get", f"{_REPO}/teamAccess"): False,
    ("put", f"{_REPO}/teamAccess/{{team}}"): True,
    ("delete", f"{_REPO}/teamAccess/{{team}}"): False,
    ("get", _NS_ACCESS): False,
    ("get", f"{_NS_ACCESS}/{{team}}"): False,
    ("put", f"{_NS_ACCESS}/{{team}}"): True,
    ("delete", f"{_NS_ACCESS}/{{team}}"): False,
}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data: Path = tmp_path_factory.mktemp("openapi")
    app = create_app(Settings(data_dir=data, run_workers=False))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return app.openapi()


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None and schema.get("type") == "array":
        return _schema(document, schema["items"])
    if ref is None:
        return schema
    found: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return found


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_each_operation_is_typed(document: dict[str, Any], method: str, path: str) -> None:
    operation = document["paths"][path][method]
    assert operation.get("summary")
    responses = operation["responses"]
    assert "422" not in responses
    success = [status for status in responses if status.startswith("2")]
    assert len(success) == 1
    if success[0] != "204":
        content = responses[success[0]]["content"]["application/json"]["schema"]
        body = _schema(document, content)
        assert body.get("properties"), f"{method} {path} answers an untyped body"
    errors = [status for status in responses if status[0] in "45"]
    assert "404" in errors or path == "/api/v0/repositories"
    for status in errors:
        ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorEnvelope")
    if OPERATIONS[(method, path)]:
        request = operation["requestBody"]["content"]["application/json"]["schema"]
        model = _schema(document, request)
        assert model.get("properties") and model.get("examples")
    else:
        assert "requestBody" not in operation


# Routes under /api/v0/repositories that other domains own (webhooks, promotion, mirroring,
# pruning).
OTHER_DOMAINS = (
    "/webhooks",
    "/promotion",
    "MirroringPolicies",
    "/mirroringPolicies",
    "/pushMirroring",
    "/pruningPolicies",
)


def test_every_repositories_operation_is_listed(document: dict[str, Any]) -> None:
    found = {
        (method, path)
        for path, item in document["paths"].items()
        if path.startswith(("/api/v0/repositories", "/api/v0/repositoryNamespaces"))
        and not any(other in path for other in OTHER_DOMAINS)
        for method in item
    }
    assert found == set(OPERATIONS)
