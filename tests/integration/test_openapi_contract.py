"""The OpenAPI contract of /api/v0 and /enzi/v0, checked against the running server.

Two halves. The document the server serves is valid OpenAPI (openapi-spec-validator) and every
operation in it is typed: a summary, tags, a schema for its 2xx answer, the error envelope on
its error answers, a body schema with an example where it takes one, and no 422 (the API answers
validation errors with 400). Then schemathesis generates requests from that document and sends
them to the live server as the admin: no answer may be a 5xx or break the schema the document
gives for it. The run is bounded (a few examples per operation, derandomized) so that it stays
within a couple of minutes on a small machine.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.engine import Status, events
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER

from tests.fakes.server import RunningServer
from tests.integration.accounts_helpers import (
    create_org,
    create_repo,
    create_team,
    create_user,
    grant_repo,
    ok,
    push_image,
)

pytestmark = pytest.mark.e2e

OPENAPI = "/api/v0/openapi.json"
ENVELOPE = "#/components/schemas/ErrorEnvelope"
BODY_METHODS = {"post", "put", "patch"}
# Accounts the run may change or delete; the admin it signs in as is never among them (see
# _spare_the_admin).
SCRATCH_USERS = ("st-alice", "st-bob")


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        if not path.startswith(("/api/v0/", "/enzi/v0/")):
            continue
        for method, operation in item.items():
            if method in {"get", "put", "post", "patch", "delete"}:
                yield f"{method.upper()} {path}", operation


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return dict(document["components"]["schemas"][ref.rsplit("/", 1)[-1]])
    return schema


def _has_example(document: dict[str, Any], media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    schema = media.get("schema", {})
    variants = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return any(
        "examples" in _resolve(document, variant) or "example" in _resolve(document, variant)
        for variant in variants
        if variant.get("type") != "null"
    )


def _typed_answer(schema: dict[str, Any]) -> bool:
    """A 2xx answer is typed when it names a model (or a list of them), not a bare string or
    an empty schema."""
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return _typed_answer(schema.get("items", {}))
    return schema.get("type") == "object" and bool(schema.get("properties"))


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _problems(document: dict[str, Any], where: str, operation: dict[str, Any]) -> list[str]:
    problems = []
    if not operation.get("summary"):
        problems.append(f"{where}: no summary")
    if not operation.get("tags"):
        problems.append(f"{where}: no tags")
    responses: dict[str, Any] = operation.get("responses", {})
    if "422" in responses:
        problems.append(f"{where}: advertises 422")
    success = [code for code in responses if code.startswith("2")]
    if not success:
        problems.append(f"{where}: no 2xx answer")
    for code in success:
        for media_type, media in responses[code].get("content", {}).items():
            schema = media.get("schema", {})
            if _is_json(media_type) and not _typed_answer(schema):
                problems.append(f"{where}: {code} {media_type} is untyped: {schema}")
            text_ok = schema.get("type") == "string" and "example" in media
            if not _is_json(media_type) and not text_ok:
                problems.append(f"{where}: {code} {media_type} is no string with an example")
        if code != "204" and not responses[code].get("content"):
            problems.append(f"{where}: {code} has no content")
    for code, answer in responses.items():
        if code[0] in "45":
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref") != ENVELOPE:
                problems.append(f"{where}: {code} is not the error envelope")
    if "requestBody" in operation:
        content = operation["requestBody"].get("content", {})
        # JSON, or a multipart upload of a file (MSR's vulnerability database update).
        if "application/json" not in content and "multipart/form-data" not in content:
            problems.append(f"{where}: body is neither JSON nor a multipart upload")
        for media_type, media in content.items():
            if not media.get("schema"):
                problems.append(f"{where}: body {media_type} has no schema")
            elif not _has_example(document, media):
                problems.append(f"{where}: body {media_type} has no example")
    return problems


@pytest.fixture(scope="module")
def document(module_server: RunningServer) -> dict[str, Any]:
    with module_server.client() as client:
        return dict(ok(client.get(OPENAPI)).json())


def test_the_served_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert "/v2/" not in "".join(document["paths"]), "the registry is not in the document"


def test_every_api_operation_is_typed(document: dict[str, Any]) -> None:
    operations = list(_operations(document))
    assert len(operations) >= 55, sorted(where for where, _ in operations)
    takes_body = [where for where, op in operations if "requestBody" in op]
    assert "POST /api/v0/webhooks" in takes_body
    problems = [p for where, op in operations for p in _problems(document, where, op)]
    assert problems == []
    schemas = document.get("components", {}).get("schemas", {})
    assert "HTTPValidationError" not in schemas


def test_the_document_names_the_accepted_values(document: dict[str, Any]) -> None:
    """Fields the service checks against a fixed set say which values it takes (so a generated
    client, the explorer and schemathesis offer them), in bodies and in answers."""
    schemas = document["components"]["schemas"]
    levels = ["read-only", "read-write", "admin"]
    assert schemas["Access"]["properties"]["accessLevel"]["enum"] == levels
    assert schemas["TeamAccessOut"]["properties"]["accessLevel"]["enum"] == levels
    assert schemas["CreateRepo"]["properties"]["visibility"]["enum"] == ["public", "private"]
    assert schemas["UpdateRepo"]["properties"]["visibility"]["enum"] == ["public", "private", None]
    assert schemas["RepositoryOut"]["properties"]["visibility"]["enum"] == ["public", "private"]
    answer = document["paths"]["/api/v0/webhooks/schemas/{event_type}"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/PayloadSchema")


def test_the_typing_check_can_fail(document: dict[str, Any]) -> None:
    """The check above sees each kind of gap (so its empty answer means something)."""
    bare = {
        "responses": {
            "200": {"content": {"application/json": {"schema": {"type": "string"}}}},
            "404": {"content": {"application/json": {"schema": {}}}},
            "422": {"content": {}},
        },
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
    }
    found = " | ".join(_problems(document, "X", bare))
    for gap in ("summary", "tags", "422", "untyped", "404 is not", "no example"):
        assert gap in found, found


# --- schemathesis over the live server ------------------------------------------------------


@dataclass
class Seeded:
    """Real names the generated requests may use, so that they reach past the 404s: `kept` for
    reads and changes, `doomed` for deletions (so that a deletion does not take away what the
    other operations use, whatever order the engine runs them in)."""

    admin_id: str
    kept: dict[str, list[str]] = field(default_factory=dict)
    doomed: dict[str, list[str]] = field(default_factory=dict)


def _seed(server: RunningServer) -> Seeded:
    with server.client(auth=server.admin_auth) as admin:
        admin_id = ok(admin.get("/enzi/v0/accounts/admin")).json()["id"]
        for name in (*SCRATCH_USERS, "st-doomed"):
            create_user(admin, name)
        create_org(admin, "st-org")
        for name in (*SCRATCH_USERS, "st-doomed"):
            ok(admin.put(f"/enzi/v0/accounts/st-org/members/{name}", json={}))
        create_team(admin, "st-org", "st-team", list(SCRATCH_USERS))
        create_team(admin, "st-org", "st-doomed-team", ["st-doomed"])
        for repo in ("st-repo", "st-doomed-repo"):
            create_repo(admin, "st-org", repo)
            for team in ("st-team", "st-doomed-team"):
                grant_repo(admin, f"st-org/{repo}", team, "read-write")
        for team in ("st-team", "st-doomed-team"):
            ok(
                admin.put(
                    f"/api/v0/repositoryNamespaces/st-org/teamAccess/{team}",
                    json={"accessLevel": "read-only"},
                )
            )
        webhooks = [_webhook(admin, "st-org/st-repo"), _webhook(admin, "st-org/st-doomed-repo")]
        digest = push_image(admin, "st-org/st-repo", "st-tag")
        push_image(admin, "st-org/st-doomed-repo", "st-doomed-tag")
        tokens = [
            ok(admin.post("/api/v0/api_tokens", json={"tokenLabel": label})).json()["hashedToken"]
            for label in ("st", "st-doomed")
        ]
        deliveries = _deliveries(admin, webhooks[0])
    return Seeded(
        admin_id=admin_id,
        kept={
            "name_or_id": ["admin", *SCRATCH_USERS, "st-org"],
            "org": ["st-org"],
            "user": list(SCRATCH_USERS),
            "team": ["st-team"],
            "namespace": ["st-org", "admin"],
            "repository": ["st-repo"],
            "name": ["st-repo"],
            "reference": ["st-tag", digest],
            "hashed": [tokens[0]],
            "webhook_id": [webhooks[0]],
            "delivery_id": deliveries,
            "event_type": ["TAG_PUSH", "SCAN_COMPLETED"],
        },
        doomed={
            "name_or_id": ["st-doomed"],
            "org": ["st-org"],
            "user": ["st-doomed"],
            "team": ["st-doomed-team"],
            "namespace": ["st-org"],
            "name": ["st-doomed-repo"],
            "tag": ["st-doomed-tag"],
            "hashed": [tokens[1]],
            "webhook_id": [webhooks[1]],
        },
    )


def _webhook(admin: httpx.Client, key: str) -> str:
    body = {"type": "TAG_PUSH", "key": key, "endpoint": "https://example.com"}
    return str(ok(admin.post("/api/v0/webhooks", json=body), 201).json()["id"])


def _deliveries(admin: httpx.Client, webhook_id: str) -> list[str]:
    """The push's delivery, once the dispatcher (another process) has made it."""
    for _ in range(100):
        found = ok(admin.get(f"/api/v0/webhooks/{webhook_id}/deliveries")).json()
        rows = found.get("deliveries", found) if isinstance(found, dict) else found
        if rows:
            return [str(rows[0]["id"])]
        time.sleep(0.1)
    raise AssertionError("the push made no delivery")


@pytest.fixture(scope="module")
def seeded(module_server: RunningServer) -> Seeded:
    return _seed(module_server)


@contextmanager
def _sparing_the_admin(seeded: Seeded) -> Iterator[None]:
    """The run signs in as the admin: it must not delete, demote, deactivate or re-password that
    account (everything after would answer 401). A request that would goes to a scratch user
    instead. `before_call` sees every request of every phase, but is only a global hook: it is
    registered for this run alone."""

    def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
        parameters = case.path_parameters or {}
        if case.method.upper() != "GET" and parameters.get("name_or_id") in {
            "admin",
            seeded.admin_id,
        }:
            parameters["name_or_id"] = SCRATCH_USERS[1]

    schemathesis.hook(before_call)
    try:
        yield
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(before_call)


def _pick_seeded_names(seeded: Seeded) -> Any:
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
        if not path_parameters:
            return st.just(path_parameters)
        # Either the generated value or a name the seed created, so requests reach the
        # handlers' real work instead of stopping at a 404.
        method = context.operation.method.upper() if context.operation else "GET"
        pools = seeded.doomed if method == "DELETE" else seeded.kept
        return st.fixed_dictionaries(
            {
                key: st.sampled_from([value, *pools.get(key, [])])
                for key, value in path_parameters.items()
            }
        )

    return flatmap_path_parameters


def _contract_schema(
    server: RunningServer,
    seeded: Seeded,
    examples: int = 8,
    document: dict[str, Any] | None = None,
) -> Any:
    username, password = server.admin_auth
    config = schemathesis.Config.from_dict(
        {
            "base-url": server.url,
            "workers": 1,
            # A few random cases per operation, the same ones each run. No max-time: with one,
            # the engine repeats the fuzzing phase until the time is up.
            "generation": {"max-examples": examples, "deterministic": True, "database": "none"},
            "checks": {
                "enabled": False,
                "not_a_server_error": {"enabled": True},
                "response_schema_conformance": {"enabled": True},
            },
            # The stateful phase walks links the document does not declare; the other phases
            # cover each operation's examples, edge values and random inputs.
            "phases": {"stateful": {"enabled": False}},
            "auth": {"basic": {"username": username, "password": password}},
        }
    )
    if document is None:
        schema = schemathesis.openapi.from_url(f"{server.url}{OPENAPI}", config=config)
    else:
        schema = schemathesis.openapi.from_dict(document, config=config)
    # /health is a probe for load balancers (its answer is not part of the API) and answers
    # 503 by design when a check fails.
    schema = schema.include(path_regex=r"^/(api|enzi)/v0/")
    schema.hook(_pick_seeded_names(seeded))
    return schema


def _report(event: Any) -> list[str]:
    if isinstance(event, (events.NonFatalError, events.FatalError)):
        error = getattr(event, "value", None) or getattr(event, "exception", None)
        return [f"{getattr(event, 'label', 'engine')}: {type(error).__name__}: {error}"]
    if not isinstance(event, events.ScenarioFinished):
        return []
    found = []
    for case_id, checks in event.recorder.checks.items():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                found.append(
                    f"{event.label} [{check.name}] {failure.title}: {failure.message}\n"
                    f"    {check.failure_info.code_sample}"
                )
            elif check.status == Status.ERROR:
                found.append(f"{event.label} [{check.name}] errored on case {case_id}")
    return found


def _run(schema: Any, seeded: Seeded) -> tuple[int, list[str]]:
    """Run the engine's phases; return how many scenarios ran and what failed."""
    failures: list[str] = []
    scenarios = 0
    with _sparing_the_admin(seeded):
        for event in schemathesis.engine.from_schema(schema).execute():
            scenarios += isinstance(event, events.ScenarioFinished)
            failures.extend(_report(event))
    return scenarios, failures


def test_the_api_answers_within_its_schema(module_server: RunningServer, seeded: Seeded) -> None:
    scenarios, failures = _run(_contract_schema(module_server, seeded), seeded)
    assert scenarios >= 55
    assert failures == [], "\n".join(list(dict.fromkeys(failures))[:30])
    with module_server.client(auth=module_server.admin_auth) as admin:
        ok(admin.get("/enzi/v0/accounts/admin"))


def test_the_run_reports_an_answer_that_breaks_its_schema(
    module_server: RunningServer, seeded: Seeded, document: dict[str, Any]
) -> None:
    """The same run over a document that misdescribes one answer (an account's name as a
    number) reports it: the run above can fail."""
    broken = copy.deepcopy(document)
    broken["components"]["schemas"]["AccountOut"]["properties"]["name"] = {"type": "integer"}
    schema = _contract_schema(module_server, seeded, examples=3, document=broken)
    schema = schema.include(method="GET", path="/enzi/v0/accounts/{name_or_id}")
    _, failures = _run(schema, seeded)
    assert any("response_schema_conformance" in failure for failure in failures), failures
