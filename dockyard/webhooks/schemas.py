"""The wire shapes of the webhooks API: request bodies in, subscriptions and deliveries out.

Field names are MSR's (camelCase) and a contract. Request models run MSR's checks in MSR's order
and raise the specific error (`INVALID_WEBHOOK_TYPE`, `INVALID_WEBHOOK_ENDPOINT`,
`INVALID_PARAMETERS` with the field, `INVALID_JSON` for a body that is not an object), so a body
parsed here answers as the hand-written parser did; `parse_body` reads any content type as JSON,
as MSR scripts send `curl -d` bodies without one. No HTTP and no database here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from dockyard.clock import rfc3339

# The change bodies live in `change_schemas`; importers find every wire shape here.
from dockyard.webhooks.change_schemas import WebhookChanges as WebhookChanges
from dockyard.webhooks.change_schemas import WebhookPatch as WebhookPatch
from dockyard.webhooks.change_schemas import WebhookUpdate as WebhookUpdate
from dockyard.webhooks.checks import (
    WIRE_TYPES,
    ResolvedType,
    bad_field,
    optional_bool,
    optional_str,
    parse_json,
    parse_time,
    require_object,
    resolve_type,
    status_filter,
)
from dockyard.webhooks.client_certs import ClientCert
from dockyard.webhooks.filters import patterns_of
from dockyard.webhooks.formats import MSR
from dockyard.webhooks.models import Subscription
from dockyard.webhooks.options import (
    CLIENT_CERT_DOC,
    CLIENT_KEY_DOC,
    FORMAT_DOC,
    MIN_SEVERITY_DOC,
    TAG_FILTER_DOC,
    TLS_CERT_DOC,
    Format,
    Severity,
    client_pair,
    new_options,
)
from dockyard.webhooks.transport import validate_endpoint, validate_tls_cert

M = TypeVar("M", bound=BaseModel)

SEED_EXAMPLE: dict[str, JsonValue] = {
    "type": "TAG_PUSH",
    "key": "foo/bar",
    "endpoint": "https://example.com",
}


def validated(model: type[M], data: Any) -> M:
    """`data` as `model`: the model's checks raise MSR's errors; anything they let through that
    the types refuse is an INVALID_PARAMETERS naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ()))
        raise bad_field(field, f"{field}: {first.get('msg', 'invalid')}") from None


def parse_body(raw: bytes, model: type[M]) -> M:
    return validated(model, parse_json(raw))


# --- request bodies --------------------------------------------------------------------------


def _type_field() -> Any:
    return Field(
        description="The event to subscribe to (REPO_CREATED etc. are REPO_EVENT filtered).",
        json_schema_extra={"enum": list[JsonValue](WIRE_TYPES)},
    )


def _sending(body: dict[str, Any], *, with_key: bool) -> dict[str, Any]:
    """MSR's checks of a subscription to be, in MSR's order."""
    if "type" not in body:
        raise bad_field("type", "type is required.")
    checked: dict[str, Any] = {"type": resolve_type(body.get("type")).wire}
    if with_key:
        checked["key"] = optional_str(body, "key") or ""
    checked["endpoint"] = validate_endpoint(body.get("endpoint"))
    checked["tlsCert"] = validate_tls_cert(optional_str(body, "tlsCert"))
    checked["skipTLSVerification"] = optional_bool(body, "skipTLSVerification") or False
    return checked


class WebhookCreate(BaseModel):
    """POST /api/v0/webhooks."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                SEED_EXAMPLE,
                {**SEED_EXAMPLE, "tlsCert": "", "skipTLSVerification": False},
                {**SEED_EXAMPLE, "tagFilter": ["v*", "!*-rc*"], "format": "cloudevents"},
                {**SEED_EXAMPLE, "type": "SCAN_COMPLETED", "minSeverity": "critical"},
            ]
        }
    )

    type: str = _type_field()
    key: str = Field(
        "",
        description='"namespace/repository" for repository events, "namespace" for REPO_EVENT; '
        "omitted (registry admins only): every repository or namespace.",
    )
    endpoint: str = Field(description="The http:// or https:// URL deliveries are POSTed to.")
    tlsCert: str = Field("", description=TLS_CERT_DOC)
    skipTLSVerification: bool = False
    tagFilter: list[str] = Field(default_factory=list, description=TAG_FILTER_DOC)
    minSeverity: Severity | None = Field(None, description=MIN_SEVERITY_DOC)
    format: Format = Field("msr", description=FORMAT_DOC)
    tlsClientCert: str = Field("", description=CLIENT_CERT_DOC)
    tlsClientKey: str = Field("", description=CLIENT_KEY_DOC)

    @model_validator(mode="before")
    @classmethod
    def _msr_checks(cls, data: Any) -> Any:
        body = require_object(data)
        return new_options(body, _sending(body, with_key=True))

    @property
    def resolved(self) -> ResolvedType:
        return resolve_type(self.type)

    @property
    def client_cert(self) -> ClientCert | None:
        """The checked client certificate pair, if the subscription has one."""
        return client_pair(self.tlsClientCert, self.tlsClientKey) if self.tlsClientCert else None


class WebhookTest(BaseModel):
    """POST /api/v0/webhooks/test: a sample event of `type` sent once to `endpoint`."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"type": "TAG_PUSH", "endpoint": "https://example.com"}]}
    )

    type: str = _type_field()
    endpoint: str = Field(description="The http:// or https:// URL the sample is POSTed to.")
    tlsCert: str = Field("", description=TLS_CERT_DOC)
    skipTLSVerification: bool = False

    @model_validator(mode="before")
    @classmethod
    def _msr_checks(cls, data: Any) -> Any:
        return _sending(require_object(data), with_key=False)

    @property
    def resolved(self) -> ResolvedType:
        return resolve_type(self.type)


class RedeliverRequest(BaseModel):
    """POST /api/v0/webhooks/{id}/redeliver: the deliveries of a status created since a time."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"since": "2024-01-01T00:00:00Z", "status": "failed"}]}
    )

    since: datetime = Field(description="RFC 3339 time with a zone.")
    status: Literal["pending", "delivered", "failed"] = Field(
        "failed", description="failed also takes deliveries retrying after a failed attempt."
    )

    @model_validator(mode="before")
    @classmethod
    def _msr_checks(cls, data: Any) -> Any:
        body = require_object(data)
        since = parse_time(body.get("since"), "since")
        return {"since": since, "status": status_filter(body.get("status", "failed")) or "failed"}


# --- answers ---------------------------------------------------------------------------------

_GO_ZERO = "0001-01-01T00:00:00Z"


class Webhook(BaseModel):
    """A subscription as MSR shows it, with dockyard's extensions after `skipTLSVerification`.
    Times of what never happened are Go's zero time, as MSR clients expect."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "1f0b6c7e9a2d4b8c8e5f3a1d2c4b6a8e9f0d1c2b3a4e5f60718293a4b5c6d7e8",
                    **SEED_EXAMPLE,
                    "authorID": "194efd8e-9ee6-4d43-a34b-eefd9ce39087",
                    "createdAt": "2024-05-02T09:41:10.512Z",
                    "lastSuccessfulAt": _GO_ZERO,
                    "inactive": False,
                    "tlsCert": "",
                    "skipTLSVerification": False,
                    "inactiveReason": "",
                    "consecutiveFailures": 0,
                    "lastError": "",
                    "lastAttemptAt": _GO_ZERO,
                    "tagFilter": [],
                    "minSeverity": None,
                    "format": "msr",
                    "tlsClientCertSubject": "",
                }
            ]
        }
    )

    id: str
    type: str
    key: str
    endpoint: str
    authorID: str
    createdAt: str
    lastSuccessfulAt: str
    inactive: bool
    tlsCert: str
    skipTLSVerification: bool
    inactiveReason: str = Field(description="dockyard: why the subscription is inactive.")
    consecutiveFailures: int = Field(description="dockyard: failed deliveries in a row.")
    lastError: str = Field(description="dockyard: the last delivery error.")
    lastAttemptAt: str = Field(description="dockyard: the last delivery attempt.")
    tagFilter: list[str] = Field(description="dockyard: the tag patterns ([]: every tag).")
    minSeverity: str | None = Field(description="dockyard: SCAN_COMPLETED's least severity.")
    format: str = Field(description='dockyard: "msr" or "cloudevents".')
    tlsClientCertSubject: str = Field(
        description="dockyard: the client certificate's subject; empty when there is none "
        "(the certificate and key are never returned)."
    )

    @classmethod
    def of(cls, sub: Subscription) -> Webhook:
        return cls.model_validate(_webhook_fields(sub))


class WebhookWithSecret(Webhook):
    """A subscription as its creator (or a secret rotation) sees it: with the signing secret."""

    secret: str = Field(description="dockyard: the Standard Webhooks signing secret (whsec_…).")

    @classmethod
    def of(cls, sub: Subscription) -> WebhookWithSecret:
        return cls.model_validate({**_webhook_fields(sub), "secret": sub.secret})


def _webhook_fields(sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "type": sub.type,
        "key": sub.key,
        "endpoint": sub.endpoint,
        "authorID": sub.author_id,
        "createdAt": rfc3339(sub.created_at),
        "lastSuccessfulAt": rfc3339(sub.last_successful_at),
        "inactive": sub.inactive,
        "tlsCert": sub.tls_cert,
        "skipTLSVerification": sub.skip_tls_verification,
        "inactiveReason": sub.inactive_reason,
        "consecutiveFailures": sub.consecutive_failures,
        "lastError": sub.last_error,
        "lastAttemptAt": rfc3339(sub.last_attempt_at),
        "tagFilter": patterns_of(sub.tag_filter or ""),
        "minSeverity": sub.min_severity,
        "format": sub.format or MSR,
        "tlsClientCertSubject": sub.tls_client_subject or "",
    }


class DeliveryAttemptOut(BaseModel):
    attemptedAt: str
    statusCode: int | None
    latencyMs: float
    outcome: str = Field(description="delivered, retry, failed or deactivated.")
    error: str
    response: str = Field(description="The start of the receiver's answer.")


class DeliveryOut(BaseModel):
    """One delivery of an event to a subscription, with its attempts (the latest 50)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b6a4d1e-7c55-4a55-9a0e-3d2b6f1c9e10",
                    "webhookID": "1f0b6c7e9a2d4b8c…",
                    "eventID": "6c1d0e0a-2f4b-4c8e-9d3a-7b5e1f2a3c4d",
                    "eventType": "TAG_PUSH",
                    "eventCreatedAt": "2024-05-02T09:41:10.512Z",
                    "status": "delivered",
                    "attemptCount": 1,
                    "nextAttemptAt": None,
                    "lastStatusCode": 200,
                    "lastError": "",
                    "deliveredAt": "2024-05-02T09:41:10.601Z",
                    "createdAt": "2024-05-02T09:41:10.530Z",
                    "attempts": [
                        {
                            "attemptedAt": "2024-05-02T09:41:10.580Z",
                            "statusCode": 200,
                            "latencyMs": 21.4,
                            "outcome": "delivered",
                            "error": "",
                            "response": "ok",
                        }
                    ],
                }
            ]
        }
    )

    id: str
    webhookID: str
    eventID: str = Field(description="The event's webhook-id: receivers de-duplicate on it.")
    eventType: str
    eventCreatedAt: str
    status: Literal["pending", "delivered", "failed"]
    attemptCount: int = Field(description="Every attempt made, before and after redeliveries.")
    nextAttemptAt: str | None = Field(description="While pending: when it is sent next.")
    lastStatusCode: int | None
    lastError: str
    deliveredAt: str | None
    createdAt: str
    attempts: list[DeliveryAttemptOut]


class TestDelivery(BaseModel):
    """The answer to a test delivery that succeeded (a failed one is a WEBHOOK_TEST_FAILED
    error whose detail holds these fields, `kind` and `error`)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"statusCode": 200, "latencyMs": 12.3, "response": "ok"}]}
    )

    statusCode: int | None
    latencyMs: float
    response: str


class Redelivered(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"redelivered": 3}]})

    redelivered: int = Field(description="How many deliveries are due again.")


class PayloadSchema(BaseModel):
    """The JSON Schema (draft 2020-12) of one event type's payload, as the OpenAPI document
    describes it; the route answers the schema itself, every keyword passed through."""

    model_config = ConfigDict(extra="allow")

    schema_uri: str = Field(
        alias="$schema", examples=["https://json-schema.org/draft/2020-12/schema"]
    )
    id: str | None = Field(
        default=None, alias="$id", examples=["/api/v0/webhooks/schemas/TAG_PUSH"]
    )
    title: str | None = None
    description: str | None = None
    type: Literal["object"]
    properties: dict[str, JsonValue]
    required: list[str] = []
