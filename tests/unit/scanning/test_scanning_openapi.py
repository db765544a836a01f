"""The imagescan API in the OpenAPI document: every operation has a summary, one 2xx answer (a
typed JSON body, or CSV / CycloneDX for the export and the SBOM), its errors in the envelope and
no 422 (validation errors are 400)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from dockyard.app import create_app
from dockyard.config import Settings

_SUMMARY = "/api/v0/imagescan/scansummary"
_REF = f"{_SUMMARY}/repositories/{{namespace}}/{{reponame}}/{{reference}}"
# (method, path) -> the 2xx answer's media type
OPERATIONS = {
    ("post", "/api/v0/imagescan/scan/{namespace}/{reponame}/{tag}/{os}/{arch}"): "json",
    ("put", "/api/v0/imagescan/scan/update"): "json",
    ("get", "/api/v0/imagescan/status"): "json",
    ("get", _REF): "json",
    ("get", f"{_REF}/export"): "text/csv",
    ("get", f"{_REF}/sbom"): "application/vnd.cyclonedx+json",
    ("post", f"{_SUMMARY}/tags"): "json",
    ("get", f"{_SUMMARY}/cve/{{cve}}"): "json",
    ("get", f"{_SUMMARY}/component/{{component}}"): "json",
}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data: Path = tmp_path_factory.mktemp("openapi")
    app = create_app(Settings(data_dir=data, run_workers=False))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return app.openapi()


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_each_operation_is_typed(document: dict[str, Any], method: str, path: str) -> None:
    operation = document["paths"][path][method]
    assert operation.get("summary")
    responses = operation["responses"]
    assert "422" not in responses
    [success] = [status for status in responses if status.startswith("2")]
    media = OPERATIONS[(method, path)]
    if media == "json":
        schema = responses[success]["content"]["application/json"]["schema"]
        assert "$ref" in schema or schema.get("type") == "array"
    else:
        assert media in responses[success]["content"]
    errors = [status for status in responses if status[0] in "45"]
    assert "401" in errors
    for status in errors:
        ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorEnvelope")


def test_the_upload_documents_its_multipart_file(document: dict[str, Any]) -> None:
    body = document["paths"]["/api/v0/imagescan/scan/update"]["put"]["requestBody"]
    schema = body["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file"]


def test_every_imagescan_operation_is_listed(document: dict[str, Any]) -> None:
    found = {
        (method, path)
        for path, item in document["paths"].items()
        if path.startswith("/api/v0/imagescan")
        for method in item
    }
    assert found == set(OPERATIONS)
