"""The bodies that change a subscription: MSR's update items (POST /api/v0/webhooks/update) and
dockyard's PATCH. A field left out (or null) stays as it is. Re-exported by `webhooks.schemas`;
no HTTP and no database here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dockyard.webhooks.checks import bad_field, optional_bool, optional_str, require_object
from dockyard.webhooks.client_certs import ClientCert
from dockyard.webhooks.options import (
    CLIENT_CERT_DOC,
    CLIENT_KEY_DOC,
    FORMAT_DOC,
    MIN_SEVERITY_DOC,
    TAG_FILTER_DOC,
    TLS_CERT_DOC,
    Format,
    Severity,
    changed_options,
    client_pair,
)
from dockyard.webhooks.transport import validate_endpoint, validate_tls_cert


class WebhookChanges(BaseModel):
    """The fields an update may change; a field left out (or null) stays as it is."""

    inactive: bool | None = Field(None, description="false reactivates (and clears failures).")
    tlsCert: str | None = Field(None, description=TLS_CERT_DOC)
    skipTLSVerification: bool | None = None
    # dockyard's options: checked for shape here, against the subscription's type by the service.
    tagFilter: list[str] | str | None = Field(None, description=TAG_FILTER_DOC)
    minSeverity: Severity | Literal[""] | None = Field(None, description=MIN_SEVERITY_DOC)
    format: Format | None = Field(None, description=FORMAT_DOC)
    tlsClientCert: str | None = Field(None, description=CLIENT_CERT_DOC + ' "" removes it.')
    tlsClientKey: str | None = Field(None, description=CLIENT_KEY_DOC)

    @model_validator(mode="before")
    @classmethod
    def _msr_checks(cls, data: Any) -> Any:
        return cls._checked(require_object(data))

    @classmethod
    def _checked(cls, body: dict[str, Any]) -> dict[str, Any]:
        tls_cert = optional_str(body, "tlsCert")
        return {
            "inactive": optional_bool(body, "inactive"),
            "tlsCert": None if tls_cert is None else validate_tls_cert(tls_cert),
            "skipTLSVerification": optional_bool(body, "skipTLSVerification"),
            **changed_options(body),
        }

    @property
    def client_cert(self) -> ClientCert | None:
        """The pair to set (empty PEMs: remove it), or None to leave it."""
        return client_pair(self.tlsClientCert, self.tlsClientKey)


class WebhookUpdate(WebhookChanges):
    """One item of POST /api/v0/webhooks/update (MSR: the body is one item or a list)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "3f2a…", "inactive": True}]})

    id: str = Field(description="The subscription's id.")

    @classmethod
    def _checked(cls, body: dict[str, Any]) -> dict[str, Any]:
        webhook_id = body.get("id")
        if not isinstance(webhook_id, str) or not webhook_id:
            raise bad_field("id", "id must be a webhook subscription id.")
        return {"id": webhook_id, **super()._checked(body)}


class WebhookPatch(WebhookChanges):
    """PATCH /api/v0/webhooks/{id} (dockyard): MSR's update fields and the endpoint."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"endpoint": "https://example.com/hook", "inactive": False},
                {
                    "tagFilter": "release-*",
                    "format": "msr",
                    "tlsClientCert": "",
                    "tlsClientKey": "",
                },
            ]
        }
    )

    endpoint: str | None = Field(None, description="A new http:// or https:// URL.")

    @classmethod
    def _checked(cls, body: dict[str, Any]) -> dict[str, Any]:
        checked = super()._checked(body)
        if "endpoint" in body:
            checked["endpoint"] = validate_endpoint(body.get("endpoint"))
        return checked
