"""One table of error codes (code -> HTTP status, message) and the exception that carries one.

Services raise `DockyardError`; the HTTP layer (api/errors.py) renders it as
`{"errors": [{"code", "message", "detail"}]}`. No HTTP framework imports here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    # OCI distribution-spec codes (/v2).
    BLOB_UNKNOWN = "BLOB_UNKNOWN"
    BLOB_UPLOAD_INVALID = "BLOB_UPLOAD_INVALID"
    BLOB_UPLOAD_UNKNOWN = "BLOB_UPLOAD_UNKNOWN"
    DIGEST_INVALID = "DIGEST_INVALID"
    MANIFEST_BLOB_UNKNOWN = "MANIFEST_BLOB_UNKNOWN"
    MANIFEST_INVALID = "MANIFEST_INVALID"
    MANIFEST_UNKNOWN = "MANIFEST_UNKNOWN"
    NAME_INVALID = "NAME_INVALID"
    NAME_UNKNOWN = "NAME_UNKNOWN"
    SIZE_INVALID = "SIZE_INVALID"
    UNAUTHORIZED = "UNAUTHORIZED"
    DENIED = "DENIED"
    UNSUPPORTED = "UNSUPPORTED"
    TOOMANYREQUESTS = "TOOMANYREQUESTS"
    RANGE_INVALID = "RANGE_INVALID"
    TAG_IMMUTABLE = "TAG_IMMUTABLE"
    MANIFEST_TOO_LARGE = "MANIFEST_TOO_LARGE"
    TAG_INVALID = "TAG_INVALID"
    PAGINATION_NUMBER_INVALID = "PAGINATION_NUMBER_INVALID"
    # MSR / eNZi codes (/api/v0, /enzi/v0).
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    NOT_AUTHORIZED = "NOT_AUTHORIZED"
    NOT_FOUND = "NOT_FOUND"
    NOT_ALLOWED = "NOT_ALLOWED"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    INVALID_JSON = "INVALID_JSON"
    INVALID_PARAMETERS = "INVALID_PARAMETERS"
    NO_SUCH_ACCOUNT = "NO_SUCH_ACCOUNT"
    NO_SUCH_USER = "NO_SUCH_USER"
    NO_SUCH_TEAM = "NO_SUCH_TEAM"
    NO_SUCH_REPOSITORY = "NO_SUCH_REPOSITORY"
    NO_SUCH_TAG = "NO_SUCH_TAG"
    NO_SUCH_REF = "NO_SUCH_REF"
    NO_SUCH_WEBHOOK = "NO_SUCH_WEBHOOK"
    NO_SUCH_DELIVERY = "NO_SUCH_DELIVERY"
    NO_SUCH_TOKEN = "NO_SUCH_TOKEN"
    NO_SUCH_NAMESPACE_TEAM_ACCESS = "NO_SUCH_NAMESPACE_TEAM_ACCESS"
    ACCOUNT_EXISTS = "ACCOUNT_EXISTS"
    TEAM_EXISTS = "TEAM_EXISTS"
    REPOSITORY_EXISTS = "REPOSITORY_EXISTS"
    INVALID_REPOSITORY_NAME = "INVALID_REPOSITORY_NAME"
    INVALID_REPOSITORY_VISIBILITY = "INVALID_REPOSITORY_VISIBILITY"
    INVALID_TAG_NAME = "INVALID_TAG_NAME"
    INVALID_DIGEST = "INVALID_DIGEST"
    INVALID_WEBHOOK_TYPE = "INVALID_WEBHOOK_TYPE"
    INVALID_WEBHOOK_KEY = "INVALID_WEBHOOK_KEY"
    INVALID_WEBHOOK_ENDPOINT = "INVALID_WEBHOOK_ENDPOINT"
    INVALID_TLS_CERT = "INVALID_TLS_CERT"
    WEBHOOK_ENDPOINT_BLOCKED = "WEBHOOK_ENDPOINT_BLOCKED"
    WEBHOOK_TEST_FAILED = "WEBHOOK_TEST_FAILED"
    TOO_MANY_WEBHOOKS = "TOO_MANY_WEBHOOKS"
    RATE_LIMITED = "RATE_LIMITED"
    CSRF_FAILED = "CSRF_FAILED"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    DISK_FULL = "DISK_FULL"
    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"
    SCANNING_NOT_ENABLED = "SCANNING_NOT_ENABLED"
    SCANNING_DB_NOT_READY = "SCANNING_DB_NOT_READY"
    INVALID_PUSH_MIRRORING_POLICY = "INVALID_PUSH_MIRRORING_POLICY"
    INVALID_POLL_MIRRORING_POLICY = "INVALID_POLL_MIRRORING_POLICY"
    NO_SUCH_MIRRORING_POLICY = "NO_SUCH_MIRRORING_POLICY"
    INVALID_PROMOTION_POLICY = "INVALID_PROMOTION_POLICY"
    NO_SUCH_PROMOTION_POLICY = "NO_SUCH_PROMOTION_POLICY"
    INVALID_PRUNING_POLICY = "INVALID_PRUNING_POLICY"
    NO_SUCH_PRUNING_POLICY = "NO_SUCH_PRUNING_POLICY"
    INVALID_SETTINGS = "INVALID_SETTINGS"
    REMOTE_REGISTRY_INVALID_PERMISSIONS = "REMOTE_REGISTRY_INVALID_PERMISSIONS"
    REMOTE_REGISTRY_BLOCKED = "REMOTE_REGISTRY_BLOCKED"
    INTERNAL_ERROR = "INTERNAL_ERROR"


_TABLE: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.BLOB_UNKNOWN: (404, "blob unknown to registry"),
    ErrorCode.BLOB_UPLOAD_INVALID: (400, "blob upload invalid"),
    ErrorCode.BLOB_UPLOAD_UNKNOWN: (404, "blob upload unknown to registry"),
    ErrorCode.DIGEST_INVALID: (400, "provided digest did not match uploaded content"),
    ErrorCode.MANIFEST_BLOB_UNKNOWN: (
        400,
        "manifest references a manifest or blob unknown to registry",
    ),
    ErrorCode.MANIFEST_INVALID: (400, "manifest invalid"),
    ErrorCode.MANIFEST_UNKNOWN: (404, "manifest unknown to registry"),
    ErrorCode.NAME_INVALID: (400, "invalid repository name"),
    ErrorCode.NAME_UNKNOWN: (404, "repository name not known to registry"),
    ErrorCode.SIZE_INVALID: (400, "provided length did not match content length"),
    ErrorCode.UNAUTHORIZED: (401, "authentication required"),
    ErrorCode.DENIED: (403, "requested access to the resource is denied"),
    ErrorCode.UNSUPPORTED: (405, "the operation is unsupported"),
    ErrorCode.TOOMANYREQUESTS: (429, "too many requests"),
    ErrorCode.RANGE_INVALID: (416, "invalid content range"),
    ErrorCode.TAG_IMMUTABLE: (409, "the tag exists and the repository's tags are immutable"),
    ErrorCode.MANIFEST_TOO_LARGE: (413, "manifest exceeds the size limit"),
    ErrorCode.TAG_INVALID: (400, "manifest tag did not match URI"),
    ErrorCode.PAGINATION_NUMBER_INVALID: (400, "invalid number of results requested"),
    ErrorCode.NOT_AUTHENTICATED: (401, "The client is not authenticated."),
    ErrorCode.NOT_AUTHORIZED: (403, "The client is not authorized."),
    ErrorCode.NOT_FOUND: (404, "The requested resource does not exist."),
    ErrorCode.NOT_ALLOWED: (405, "Method Not Allowed"),
    ErrorCode.NOT_ACCEPTABLE: (406, "Not Acceptable"),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: (415, "Unsupported Media Type"),
    ErrorCode.INVALID_JSON: (400, "Unable to parse JSON"),
    ErrorCode.INVALID_PARAMETERS: (400, "Invalid parameters"),
    ErrorCode.NO_SUCH_ACCOUNT: (404, "An account with the given name does not exist."),
    ErrorCode.NO_SUCH_USER: (404, "A user with the given name does not exist."),
    ErrorCode.NO_SUCH_TEAM: (404, "A team with the given name does not exist."),
    ErrorCode.NO_SUCH_REPOSITORY: (404, "A repository with the given name does not exist."),
    ErrorCode.NO_SUCH_TAG: (404, "A tag with the given name does not exist."),
    ErrorCode.NO_SUCH_REF: (404, "A tag or manifest with the given reference does not exist."),
    ErrorCode.NO_SUCH_WEBHOOK: (404, "A webhook subscription with the given id does not exist."),
    ErrorCode.NO_SUCH_DELIVERY: (404, "A delivery with the given id does not exist."),
    ErrorCode.NO_SUCH_TOKEN: (404, "An access token with the given id does not exist."),
    ErrorCode.NO_SUCH_NAMESPACE_TEAM_ACCESS: (404, "The team has no access to the namespace."),
    ErrorCode.ACCOUNT_EXISTS: (400, "An account with the given name already exists."),
    ErrorCode.TEAM_EXISTS: (400, "A team with the given name already exists."),
    ErrorCode.REPOSITORY_EXISTS: (400, "A repository with the given name already exists."),
    ErrorCode.INVALID_REPOSITORY_NAME: (400, "The repository name is invalid."),
    ErrorCode.INVALID_REPOSITORY_VISIBILITY: (400, "Visibility must be 'public' or 'private'."),
    ErrorCode.INVALID_TAG_NAME: (400, "The tag name is invalid."),
    ErrorCode.INVALID_DIGEST: (400, "The digest is invalid."),
    ErrorCode.INVALID_WEBHOOK_TYPE: (400, "The webhook type is not a known event type."),
    ErrorCode.INVALID_WEBHOOK_KEY: (400, "The webhook key does not fit its event type."),
    ErrorCode.INVALID_WEBHOOK_ENDPOINT: (400, "The webhook endpoint is not a valid http(s) URL."),
    ErrorCode.INVALID_TLS_CERT: (400, "tlsCert is not a valid PEM certificate."),
    ErrorCode.WEBHOOK_ENDPOINT_BLOCKED: (400, "The endpoint resolves to a blocked network."),
    ErrorCode.REMOTE_REGISTRY_INVALID_PERMISSIONS: (
        400,
        "The remote registry is unreachable or refused the credentials.",
    ),
    ErrorCode.REMOTE_REGISTRY_BLOCKED: (400, "The remote registry is on a blocked network."),
    ErrorCode.WEBHOOK_TEST_FAILED: (400, "The test delivery did not succeed."),
    ErrorCode.TOO_MANY_WEBHOOKS: (400, "The limit on webhook subscriptions is reached."),
    ErrorCode.RATE_LIMITED: (429, "Too many requests; try again later."),
    ErrorCode.CSRF_FAILED: (403, "The form's CSRF token is missing or wrong; reload the page."),
    ErrorCode.REQUEST_TOO_LARGE: (413, "The request body is larger than the server accepts."),
    # 507 Insufficient Storage (RFC 4918): the client may retry once an operator frees space.
    ErrorCode.DISK_FULL: (507, "no space left on the registry's storage"),
    # 503: the object store is down or refuses the registry's credentials; retrying may succeed.
    ErrorCode.STORAGE_UNAVAILABLE: (503, "the registry's storage cannot be reached; try again"),
    ErrorCode.SCANNING_NOT_ENABLED: (400, "Security scanning is not enabled."),
    ErrorCode.SCANNING_DB_NOT_READY: (400, "The vulnerability database could not be updated."),
    ErrorCode.INVALID_PUSH_MIRRORING_POLICY: (400, "The push mirroring policy is invalid."),
    ErrorCode.INVALID_POLL_MIRRORING_POLICY: (400, "The poll mirroring policy is invalid."),
    ErrorCode.NO_SUCH_MIRRORING_POLICY: (404, "No mirroring policy has the given id."),
    ErrorCode.INVALID_PROMOTION_POLICY: (400, "The promotion policy is invalid."),
    ErrorCode.NO_SUCH_PROMOTION_POLICY: (404, "No promotion policy has the given id."),
    ErrorCode.INVALID_PRUNING_POLICY: (400, "The pruning policy is invalid."),
    ErrorCode.NO_SUCH_PRUNING_POLICY: (404, "No pruning policy has the given id."),
    ErrorCode.INVALID_SETTINGS: (
        400,
        "The submitted settings change request contains invalid values.",
    ),
    ErrorCode.INTERNAL_ERROR: (500, "An internal error occurred."),
}


def status_for(code: ErrorCode) -> int:
    return _TABLE[code][0]


def default_message(code: ErrorCode) -> str:
    return _TABLE[code][1]


class DockyardError(Exception):
    """A failure with a public error code. The HTTP layer maps `code` to its status."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        detail: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code
        self.message = message or default_message(code)
        self.detail = detail
        self.status = status if status is not None else status_for(code)
        self.headers = headers or {}
        super().__init__(f"{code}: {self.message}")
