"""The promotion API in the OpenAPI document: every operation typed, with a summary, an example
body where it takes one, a typed answer and its error statuses (no 422: the API answers 400)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from dockyard.api.responses import without_validation_422
from dockyard.policies.routes import router

P = "/api/v0/repositories/{namespace}/{reponame}"
OPERATIONS = {
    ("get", P + "/promotionPolicies"): False,
    ("post", P + "/promotionPolicies"): True,
    ("get", P + "/promotionPolicies/{promotionpolicyid}"): False,
    ("put", P + "/promotionPolicies/{promotionpolicyid}"): True,
    ("delete", P + "/promotionPolicies/{promotionpolicyid}"): False,
    ("post", P + "/tags/{tag}/promotion"): True,
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = FastAPI()
    app.include_router(router)
    without_validation_422(app)
    return app.openapi()


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_operation_is_typed(document: dict[str, Any], method: str, path: str) -> None:
    operation = document["paths"][path][method]
    assert operation.get("summary") and "promotion" in operation["tags"]
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
    op = document["paths"][P + "/promotionPolicies"]["post"]
    example = op["requestBody"]["content"]["application/json"]["example"]
    assert set(example) == {"rules", "targetRepository", "tagTemplate", "enabled"}
    assert any(p["name"] == "initialEvaluation" for p in op["parameters"])
