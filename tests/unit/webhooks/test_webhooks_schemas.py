"""The webhooks request models keep MSR's answers: a bad field gives its specific code (not a
generic validation error), a body that is not an object or not JSON is INVALID_JSON, and the
examples the API explorer offers are valid bodies."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.errors import DockyardError, ErrorCode
from dockyard.webhooks.schemas import (
    SEED_EXAMPLE,
    RedeliverRequest,
    WebhookCreate,
    WebhookPatch,
    WebhookTest,
    WebhookUpdate,
    parse_body,
)

OK = {"type": "TAG_PUSH", "key": "alice/web", "endpoint": "https://example.com/hook"}


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ([OK], ErrorCode.INVALID_JSON, None),
        ({**OK, "type": "NOPE"}, ErrorCode.INVALID_WEBHOOK_TYPE, "type"),
        ({**OK, "type": 3}, ErrorCode.INVALID_WEBHOOK_TYPE, "type"),
        ({"key": "alice/web", "endpoint": OK["endpoint"]}, ErrorCode.INVALID_PARAMETERS, "type"),
        ({**OK, "key": 7}, ErrorCode.INVALID_PARAMETERS, "key"),
        ({**OK, "endpoint": "ftp://x"}, ErrorCode.INVALID_WEBHOOK_ENDPOINT, None),
        ({**OK, "endpoint": None}, ErrorCode.INVALID_WEBHOOK_ENDPOINT, None),
        ({**OK, "tlsCert": 5}, ErrorCode.INVALID_PARAMETERS, "tlsCert"),
        ({**OK, "skipTLSVerification": "yes"}, ErrorCode.INVALID_PARAMETERS, "skipTLSVerification"),
    ],
)
def test_create_keeps_msr_codes(body: Any, code: ErrorCode, field: str | None) -> None:
    with pytest.raises(DockyardError) as raised:
        WebhookCreate.model_validate(body)
    assert raised.value.code is code
    if field is not None:
        assert raised.value.detail["field"] == field


@pytest.mark.parametrize("raw", [b"", b"{nope", b"[" * 100_000 + b"]" * 100_000, b"\xff"])
def test_bad_json_is_invalid_json(raw: bytes) -> None:
    with pytest.raises(DockyardError) as raised:
        parse_body(raw, WebhookCreate)
    assert raised.value.code is ErrorCode.INVALID_JSON


def test_defaults_and_the_offered_examples() -> None:
    seed = WebhookCreate.model_validate(SEED_EXAMPLE)
    assert (seed.tlsCert, seed.skipTLSVerification) == ("", False)
    assert seed.resolved.event_type.value == "TAG_PUSH"
    alias = WebhookCreate.model_validate({**OK, "type": "REPO_CREATED", "key": "alice"})
    assert (alias.type, alias.resolved.repo_event_filter) == ("REPO_CREATED", "REPO_CREATED")
    for model in (WebhookCreate, WebhookTest, WebhookUpdate, WebhookPatch, RedeliverRequest):
        for example in model.model_json_schema()["examples"]:
            model.model_validate(example)


def test_updates_change_only_what_they_name() -> None:
    patch = WebhookPatch.model_validate({"inactive": False})
    assert (patch.inactive, patch.tlsCert, patch.skipTLSVerification, patch.endpoint) == (
        False,
        None,
        None,
        None,
    )
    with pytest.raises(DockyardError) as raised:
        WebhookPatch.model_validate({"endpoint": None})
    assert raised.value.code is ErrorCode.INVALID_WEBHOOK_ENDPOINT
    with pytest.raises(DockyardError) as raised:
        WebhookUpdate.model_validate({"inactive": True})
    assert raised.value.code is ErrorCode.INVALID_PARAMETERS
    assert raised.value.detail == {"field": "id"}


def test_redeliver_defaults_to_failed_and_wants_a_zone() -> None:
    form = RedeliverRequest.model_validate({"since": "2024-01-01T00:00:00Z", "status": "any"})
    assert form.status == "failed" and form.since.tzinfo is not None
    for body in ({"since": "2024-01-01T00:00:00"}, {}, {"since": "x", "status": "failed"}):
        with pytest.raises(DockyardError) as raised:
            RedeliverRequest.model_validate(body)
        assert raised.value.detail == {"field": "since"}
    with pytest.raises(DockyardError) as raised:
        RedeliverRequest.model_validate({"since": "2024-01-01T00:00:00Z", "status": "gone"})
    assert raised.value.detail["field"] == "status"
