"""dockyard's options of a subscription, beyond MSR's fields: `tagFilter`, `minSeverity`,
`format`, `tlsClientCert`/`tlsClientKey` as request bodies carry them, checked with MSR-style
errors (INVALID_PARAMETERS or INVALID_TLS_CERT naming the field). MSR scripts that send none of
them see no change. Used by `webhooks.schemas`; no HTTP and no database here.
"""

from __future__ import annotations

from typing import Any, Literal

from dockyard.events.types import EventType
from dockyard.webhooks.checks import bad_field, resolve_type
from dockyard.webhooks.client_certs import ClientCert, check_pair, parse_client_cert
from dockyard.webhooks.filters import (
    SEVERITIES,
    parse_min_severity,
    parse_tag_filter,
    patterns_of,
)
from dockyard.webhooks.formats import FORMATS, MSR

TLS_CERT_DOC = "PEM certificate of the endpoint or its CA; empty for the system's."
TAG_FILTER_DOC = (
    "dockyard: glob patterns a tag must match (a list, or one comma-separated string); "
    '`!` excludes: ["v*", "!*-rc*"]. Events with a tag only; empty: every tag.'
)
MIN_SEVERITY_DOC = (
    "dockyard, SCAN_COMPLETED only: a scan whose worst finding is less severe (or that found "
    "nothing) is not delivered."
)
FORMAT_DOC = 'dockyard: the body, MSR\'s JSON ("msr") or a CloudEvents 1.0 event ("cloudevents").'
CLIENT_CERT_DOC = (
    "dockyard: PEM client certificate (and intermediates) for endpoints that require mutual "
    "TLS; with tlsClientKey. Stored encrypted, never returned."
)
CLIENT_KEY_DOC = "dockyard: the unencrypted PEM private key of tlsClientCert."
Severity = Literal["critical", "major", "minor"]
Format = Literal["msr", "cloudevents"]


def new_options(body: dict[str, Any], checked: dict[str, Any]) -> dict[str, Any]:
    """The options of a new subscription, added to MSR's `checked` fields (which hold its type,
    against which the filters are checked)."""
    event_type = resolve_type(checked["type"]).event_type
    checked["tagFilter"] = patterns_of(parse_tag_filter(body.get("tagFilter"), event_type))
    checked["minSeverity"] = parse_min_severity(body.get("minSeverity"), event_type)
    checked["format"] = check_format(body.get("format")) or MSR
    client = parse_client_cert(body)
    checked["tlsClientCert"] = client.cert_pem if client else ""
    checked["tlsClientKey"] = client.key_pem if client else ""
    return checked


def changed_options(body: dict[str, Any]) -> dict[str, Any]:
    """The options an update changes (None: unchanged), checked for shape: whether the filters
    apply to the subscription's type is the service's check."""
    client = parse_client_cert(body)
    severity = body.get("minSeverity")
    if severity not in (None, "", *SEVERITIES):
        raise bad_field("minSeverity", f"minSeverity must be one of: {', '.join(SEVERITIES)}.")
    tag_filter = body.get("tagFilter")
    return {
        # Any tagged type stands in for the subscription's here.
        "tagFilter": None
        if tag_filter is None
        else patterns_of(parse_tag_filter(tag_filter, EventType.TAG_PUSH)),
        "minSeverity": severity,
        "format": check_format(body.get("format")),
        "tlsClientCert": None if client is None else client.cert_pem,
        "tlsClientKey": None if client is None else client.key_pem,
    }


def check_format(value: Any) -> str | None:
    if value is None:
        return None
    if value not in FORMATS:
        raise bad_field("format", f"format must be one of: {', '.join(FORMATS)}.")
    return str(value)


def client_pair(cert_pem: str | None, key_pem: str | None) -> ClientCert | None:
    """The checked pair of checked fields: None to leave it, empty PEMs to remove it."""
    if cert_pem is None:
        return None
    if not cert_pem:
        return ClientCert("", "", "")
    return check_pair(cert_pem, key_pem or "")
