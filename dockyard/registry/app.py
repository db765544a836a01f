"""The /v2 application: the OCI distribution protocol as an application of its own, which the
host (`dockyard.app`) mounts at /v2 behind its request log.

It carries what makes /v2 speak OCI rather than MSR: error handlers with the OCI codes and the
registry's challenge on a 401, `Docker-Distribution-API-Version` on every answer, Basic and
registry bearer-token callers (no UI session), and no JSON body limit (uploads stream, manifests
have their own). No OpenAPI document: the protocol is the OCI specification's.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.api.errors import ErrorDialect, install_error_handlers
from dockyard.api.middleware import UnhandledErrorMiddleware
from dockyard.auth.deps import PrincipalResolver, basic_resolver, bearer_resolver
from dockyard.auth.tokens import load_or_create_key
from dockyard.errors import ErrorCode
from dockyard.registry.challenge import challenge
from dockyard.registry.fastpath import RegistryReadFastPath, read_route
from dockyard.registry.routes import router
from dockyard.services import Services

OCI_DIALECT = ErrorDialect(
    not_found=ErrorCode.NAME_UNKNOWN,
    not_allowed=ErrorCode.UNSUPPORTED,
    unauthenticated=ErrorCode.UNAUTHORIZED,
    forbidden=ErrorCode.DENIED,
    invalid=ErrorCode.NAME_INVALID,
    # Authentication is shared with the APIs, which raise these in MSR terms.
    renamed={
        ErrorCode.NOT_AUTHENTICATED: ErrorCode.UNAUTHORIZED,
        ErrorCode.RATE_LIMITED: ErrorCode.TOOMANYREQUESTS,
    },
    challenge=challenge,
)

_API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")


class ApiVersionMiddleware:
    """Every /v2 response, errors and 401 challenges included, says which API it speaks
    (clients such as docker read it off the 401 of the first ping). Pure ASGI, so
    `http.response.pathsend` passes through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != _API_VERSION[0]]
                message = {**message, "headers": [*headers, _API_VERSION]}
            await send(message)

        await self.app(scope, receive, send_with_version)


class RegistryApplication(FastAPI):
    """The /v2 application. A read the fast path answers (manifest and blob GET/HEAD) enters
    the chain it meets inside the application anyway, version header > last-resort answer >
    fast path, without passing the layers Starlette and FastAPI wrap around every application
    (their error, telemetry and body-limit middleware, which never act on these: the
    last-resort answer inside catches first, telemetry is off, no body limit is set). The
    answer is the same, byte for byte; everything else takes the full stack."""

    reads: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.reads is not None and read_route(scope) is not None:
            scope["app"] = self  # as Starlette sets it: handlers reach the app's state
            await self.reads(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


# FastAPI's native OpenTelemetry stays off: dockyard configures no provider, and with it on
# every request asks OpenTelemetry for its providers (environment lookups that fail): a sixth
# of a worker's CPU under a manifest GET load.
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_registry_app(services: Services) -> FastAPI:
    """The /v2 application over `services`. Its state holds what its routes reach through
    `request.app.state`: the services and settings, its principal resolvers, the key that
    verifies registry bearer tokens; the host sets a login limiter it shares (else one is made
    on first use)."""
    app = RegistryApplication(
        docs_url=None, redoc_url=None, openapi_url=None, telemetry=NO_TELEMETRY
    )
    app.state.services = services
    app.state.settings = services.settings
    # Bearer first: what docker, podman and skopeo send on every request after the token
    # dance (the schemes exclude each other, so the order changes no answer).
    resolvers: list[PrincipalResolver] = [bearer_resolver, basic_resolver]
    app.state.principal_resolvers = resolvers
    app.state.registry_signing_key = load_or_create_key(
        services.settings.data_dir, services.settings.registry_token_key
    )
    install_error_handlers(app, OCI_DIALECT)
    app.include_router(router)
    # Innermost: manifest and blob reads skip the router (answers and errors stay the routes').
    app.add_middleware(RegistryReadFastPath)
    # Added next, so it answers inside the version header: a 500 or 507 says it too.
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(ApiVersionMiddleware)
    # The same three, for the reads that skip the outer layers (RegistryApplication).
    app.reads = ApiVersionMiddleware(UnhandledErrorMiddleware(RegistryReadFastPath(_never(app))))
    return app


def _never(app: FastAPI) -> ASGIApp:
    """What the reads chain hands a request that is no read: the whole application (it never
    happens: `RegistryApplication` sends it reads only)."""

    async def whole(scope: Scope, receive: Receive, send: Send) -> None:
        await FastAPI.__call__(app, scope, receive, send)

    return whole
