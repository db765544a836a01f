"""POST /api/v0/remote/registry: can this server reach a remote registry, and what may it do
there (read, write) with these credentials? Under the webhooks' SSRF policy
(DOCKYARD_WEBHOOK_BLOCKED_NETWORKS): a remote on a blocked network is refused with 400."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from dockyard.accounts.principal import Principal
from dockyard.api.responses import errors
from dockyard.auth.deps import require_principal, services_of
from dockyard.errors import DockyardError, ErrorCode
from dockyard.kit.ssrf import parse_networks
from dockyard.policies.ociauth import Credentials
from dockyard.policies.ociclient import BlockedRemoteError, RemoteError, RemoteRegistry

router = APIRouter(tags=["remote registries"])
# A repository name as OCI's distribution spec allows it (or empty: a probe repository).
REPOSITORY_PATTERN = r"^(|[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)$"
Caller = Annotated[Principal, Depends(require_principal)]


class RemoteRegistryCheck(BaseModel):
    """MSR's fields (`remoteHost`, `remoteRepository`); `url` and `repository` are accepted too."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "remoteHost": "https://dr.example.com",
                    "remoteRepository": "prod/app",
                    "username": "mirror",
                    "password": "secret",
                    "remoteCA": "",
                    "skipTLSVerification": False,
                }
            ]
        },
    )
    remoteHost: str = Field(
        min_length=1, max_length=2048, validation_alias=AliasChoices("remoteHost", "url")
    )
    remoteRepository: str = Field(
        default="",
        max_length=512,
        pattern=REPOSITORY_PATTERN,
        validation_alias=AliasChoices("remoteRepository", "repository"),
    )
    username: str = Field(default="", max_length=512)
    password: str = Field(default="", max_length=8192)
    authToken: str = Field(default="", max_length=8192)
    remoteCA: str = Field(default="", max_length=65536)
    skipTLSVerification: bool = False


class RemotePermissions(BaseModel):
    read: bool
    write: bool


class RemoteRegistryStatus(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"registryType": "dockyard", "permissions": {"read": True, "write": True}}]
        }
    )
    registryType: str
    permissions: RemotePermissions


def _refused(message: str, code: ErrorCode) -> DockyardError:
    return DockyardError(code, message[:500], detail={"field": "remoteHost"})


@router.post(
    "/api/v0/remote/registry",
    status_code=201,
    summary="Check a remote registry's reachability and this account's permissions there",
    response_model=RemoteRegistryStatus,
    responses=errors(400, 401),
)
async def check_remote_registry(
    request: Request, _principal: Caller, form: RemoteRegistryCheck
) -> RemoteRegistryStatus:
    settings = services_of(request).settings
    credentials = Credentials(form.username, form.password, form.authToken)
    invalid = ErrorCode.REMOTE_REGISTRY_INVALID_PERMISSIONS
    try:
        async with RemoteRegistry(
            form.remoteHost,
            credentials,
            remote_ca=form.remoteCA,
            skip_tls_verification=form.skipTLSVerification,
            blocked=parse_networks(settings.webhook_blocked_networks),
        ) as remote:
            kind = await remote.registry_type()
            repo = form.remoteRepository.strip("/") or "library/dockyard-check"
            perms = await remote.check(repo)
    except BlockedRemoteError as exc:
        raise _refused(str(exc), ErrorCode.REMOTE_REGISTRY_BLOCKED) from None
    except RemoteError as exc:
        raise _refused(str(exc), invalid) from None
    return RemoteRegistryStatus(
        registryType=kind, permissions=RemotePermissions(read=perms.read, write=perms.write)
    )
