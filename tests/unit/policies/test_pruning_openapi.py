"""The pruning API in the OpenAPI document: every operation typed, with a summary, an example
body where it takes one, a typed answer and its error statuses (no 422: the API answers 400)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from dockyard.api.responses import without_validation_422
from dockyard.policies.pruning_routes import router

P = "/api/v0/repositories/{namespace}/{reponame}/pruningPolicies"
OPERATIONS = {
    ("get", P): False,
    ("post", P): True,
    ("post", P + "/test"): True,
    ("get", P + "/{pruningpolicyid}"): False,
    ("put", P + "/{pruningpolicyid}"): True,
    ("delete", P + "/{pruningpolicyid}"): False,
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = FastAPI()
    app.include_router(router)
    without_validation_422(app)
    return app.openapi()


def test_every_operation_is_listed(document: dict[str, Any]) -> None:
    found = {(method, path) for path, item in document["paths"].items() for method in item}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_operation_is_typed(document: dict[str, Any], method: str, path: str) -> None:
    operation = document["paths"][path][method]
    assert operation.get("summary") and "pruning" in operation["tags"]
    assert "422" not in operation["responses"]
    body = operation.get("requestBody")
    if OPERATIONS[(method, path)]:
        media = body["content"]["application/json"]
        assert media["schema"] and media["example"]
    else:
        assert body is None
    answers = {c: r for c, r in operation["responses"].items() if c.startswith("2")}
    assert answers
    for code, answer in answers.items():
        if code != "204":
            assert answer["content"]["application/json"]["schema"]
    assert any(code.startswith("4") for code in operation["responses"])


def test_the_policy_example_is_msr_shaped(document: dict[str, Any]) -> None:
    op = document["paths"][P]["post"]
    example = op["requestBody"]["content"]["application/json"]["example"]
    assert set(example) == {"rules", "enabled"}
    assert any(p["name"] == "initialEvaluation" for p in op["parameters"])
    answer = op["responses"]["201"]["content"]["application/json"]["schema"]
    schemas = document["components"]["schemas"]
    fields = set(schemas[answer["$ref"].rsplit("/", 1)[1]]["properties"])
    assert {"id", "repository", "rules", "enabled", "lastPrunedAt"} <= fields
