"""create_app(settings): builds the services, mounts every router, starts in-process workers.

This is the assembly point: it may import every layer; nothing imports it but the CLI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from dockyard import __version__
from dockyard.api.errors import install_error_handlers
from dockyard.api.health import router as health_router
from dockyard.api.lazy_routes import RouteMount, include_routes
from dockyard.api.middleware import (
    BodyLimitMiddleware,
    MountMiddleware,
    RequestLogMiddleware,
    UnhandledErrorMiddleware,
)
from dockyard.api.responses import without_validation_422
from dockyard.api.version import router as version_router
from dockyard.auth.deps import PrincipalResolver, basic_resolver
from dockyard.auth.ratelimit import LoginRateLimiter
from dockyard.config import Settings, settings_from_env
from dockyard.logging import configure_logging
from dockyard.registry.heap import settle_heap
from dockyard.registry.pulls import close_recorders
from dockyard.services import Services, build_services

log = logging.getLogger(__name__)

BackgroundTask = Callable[[Services], Coroutine[Any, Any, None]]


def create_app(settings: Settings, *, lazy_routes: bool = False) -> FastAPI:
    """The application; `lazy_routes` for an HTTP worker of `dockyard serve` (`LazyRoutes`)."""
    background: list[BackgroundTask] = []
    routes: list[RouteMount] = []
    # Built here, not in the lifespan: the /v2 application is made over them below.
    services = build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(job(services)) for job in background]
        settle_heap()  # the application is built: out of the collector's sight
        log.info("dockyard.started", extra={"version": __version__})
        try:
            yield
        finally:
            await _shut_down(tasks, services)

    app = FastAPI(
        title="dockyard",
        version=__version__,
        description="Self-hosted OCI registry with MSR-compatible webhooks.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v0/openapi.json",
        # No native OpenTelemetry: its per-request check costs (registry/app.py says how much).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = services
    app.state.settings = settings
    resolvers: list[PrincipalResolver] = [basic_resolver]
    app.state.principal_resolvers = resolvers
    app.state.background = background
    install_error_handlers(app)
    without_validation_422(app)
    # Each middleware added wraps those before it. Innermost: the body limit, then the
    # last-resort answer (inside the UI's security headers, which _mount_features adds).
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_json_body_bytes,
        # An uploaded vulnerability database archive (scanning's PUT .../scan/update and the
        # admin page's form).
        overrides={
            "/api/v0/imagescan/scan/update": settings.scanning_max_upload_bytes,
            "/admin/scanning": settings.scanning_max_upload_bytes,
        },
    )
    app.add_middleware(UnhandledErrorMiddleware)
    app.include_router(health_router)
    app.include_router(version_router)
    _mount_features(app, settings, background, resolvers, routes)
    _mount_replicas(app, settings, background, routes)
    include_routes(app, routes, lazy=lazy_routes)
    _mount_registry(app, services)
    # Outermost: every request, /v2 included, gets its id and access line.
    app.add_middleware(RequestLogMiddleware)
    return app


async def _shut_down(tasks: list[asyncio.Task[None]], services: Services) -> None:
    """The lifespan's end: background tasks stopped, then what this process still holds written
    (pull counts are summed in memory between flushes) before the engine goes."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await close_recorders()
    await services.close()


def _mount_registry(app: FastAPI, services: Services) -> None:
    """The /v2 application, in front of the middleware added so far (body limit, security
    headers): only the request log, added after this, also sees its traffic."""
    from dockyard.registry.app import create_registry_app

    registry = create_registry_app(services)
    # One login limiter per process: failed logins on /v2, the APIs and the login form count
    # against the same (user, address).
    registry.state.login_limiter = app.state.login_limiter = LoginRateLimiter()
    app.add_middleware(MountMiddleware, prefix="/v2", mounted=registry)


def _mount_features(
    app: FastAPI,
    settings: Settings,
    background: list[BackgroundTask],
    resolvers: list[PrincipalResolver],
    routes: list[RouteMount],
) -> None:
    """Each feature adds its principal resolvers, middleware and workers here, and its routers
    to `routes` (in the order they are matched)."""
    # Accounts, tokens, access (issue 3): registry token auth (/auth/token, at once: every
    # registry client asks it; /v2 takes the Bearer tokens, see _mount_registry), eNZi accounts,
    # API tokens, the repositories API (at the end).
    from dockyard.auth.routes import install_token_auth

    install_token_auth(app, settings)
    routes.append(_accounts_routes)

    # Web UI (issue 5): session-cookie principals, pages, static assets, security headers.
    from dockyard.ui.routes import install_ui
    from dockyard.ui.session import session_resolver

    resolvers.append(session_resolver)
    routes.append(_ui_routes)
    install_ui(app)

    _mount_webhooks(app, settings, background, routes)
    _mount_scanning(settings, background, routes)
    routes.append(_meta_routes)
    _mount_mirroring(settings, background, routes)
    _mount_promotion(settings, background, routes)
    routes.append(_repository_routes)


def _accounts_routes(app: FastAPI) -> None:
    from dockyard.accounts.routes import router as accounts_router
    from dockyard.accounts.team_routes import router as teams_router
    from dockyard.accounts.token_routes import router as tokens_router

    app.include_router(accounts_router)
    app.include_router(teams_router)
    app.include_router(tokens_router)


def _ui_routes(app: FastAPI) -> None:
    from dockyard.ui.routes import pages_router

    app.include_router(pages_router())


def _repository_routes(app: FastAPI) -> None:
    """Keep last: /api/v0/repositories/{ns}/{repo} must not shadow more specific routes such as
    /api/v0/repositories/{ns}/webhooks (webhooks issue) included before."""
    from dockyard.repos.access_routes import router as repository_access_router
    from dockyard.repos.routes import router as repositories_router

    app.include_router(repository_access_router)
    app.include_router(repositories_router)


def _mount_webhooks(
    app: FastAPI, settings: Settings, background: list[BackgroundTask], routes: list[RouteMount]
) -> None:
    """Webhooks (issue 4): subscriptions API, delivery log, schemas, /metrics. The dispatcher and
    delivery workers run in `dockyard serve`'s child process (which sets RUN_WORKERS=false
    here), in `dockyard worker`, or in this process when RUN_WORKERS is true."""
    from dockyard.webhooks.runtime import WebhookRuntime

    webhook_runtime = WebhookRuntime(settings)
    app.state.webhook_runtime = webhook_runtime
    routes.append(_webhook_routes)
    background.append(webhook_runtime.hold)
    if settings.run_workers:
        # Workers' modules load only where they run: the HTTP processes of a `serve` never pay
        # their memory (the scanner's version orders, the SBOM writer, ...).
        from dockyard.webhooks.worker import run_workers as run_webhook_workers

        background.append(run_webhook_workers)
    else:
        # The engine runs elsewhere (`dockyard serve`'s child, or `dockyard worker`): wake it.
        from dockyard.webhooks.wake import forward_commits

        background.append(lambda services: forward_commits(services.settings.data_dir))


def _webhook_routes(app: FastAPI) -> None:
    from dockyard.webhooks.routes import router as webhooks_router

    app.include_router(webhooks_router)


def _mount_scanning(
    settings: Settings, background: list[BackgroundTask], routes: list[RouteMount]
) -> None:
    """Vulnerability scanning (issue 10): the imagescan API, `vuln_summary` on the repositories
    API's tags; the scanner runs beside the delivery engine (`dockyard worker`, or here when
    RUN_WORKERS is true)."""
    routes.append(_scanning_routes)
    if settings.run_workers:
        from dockyard.scanning.worker import run_scanner

        background.append(run_scanner)


def _scanning_routes(app: FastAPI) -> None:
    # With the routes: only the repositories API (included after these) shows the summaries.
    from dockyard.repos.listing import register_tag_extras
    from dockyard.scanning.results import tag_vuln_summaries
    from dockyard.scanning.routes import router as scanning_router

    register_tag_extras(tag_vuln_summaries)
    app.include_router(scanning_router)


def _meta_routes(app: FastAPI) -> None:
    """Registry settings and cluster status (issue 12): /api/v0/meta."""
    from dockyard.meta.routes import router as meta_router

    app.include_router(meta_router)


def _mount_replicas(
    app: FastAPI, settings: Settings, background: list[BackgroundTask], routes: list[RouteMount]
) -> None:
    """Several nodes (issue 17): /api/v0/replicas and its admin page; this process's heartbeat
    and, on PostgreSQL, the wake-ups to and from other nodes (replicas/heartbeat.py)."""
    from dockyard.replicas.heartbeat import cluster_tasks

    routes.append(_replica_routes)
    background.extend(cluster_tasks(settings, "all" if settings.run_workers else "api"))


def _replica_routes(app: FastAPI) -> None:
    from dockyard.replicas.routes import router as replicas_router
    from dockyard.ui.replica_pages import router as replica_pages_router

    app.include_router(replicas_router)
    app.include_router(replica_pages_router)


def _mount_mirroring(
    settings: Settings, background: list[BackgroundTask], routes: list[RouteMount]
) -> None:
    """Push and poll mirroring (issue 11): the remote registry check and the policies API; the
    mirror worker runs beside the delivery engine (`dockyard worker`, or here when RUN_WORKERS is
    true)."""
    routes.append(_mirroring_routes)
    if settings.run_workers:
        from dockyard.policies.mirror_worker import run_mirror_worker

        background.append(run_mirror_worker)


def _mirroring_routes(app: FastAPI) -> None:
    from dockyard.policies.mirror_routes import router as mirroring_router
    from dockyard.policies.remote_routes import router as remote_registry_router

    app.include_router(remote_registry_router)
    app.include_router(mirroring_router)


def _mount_promotion(
    settings: Settings, background: list[BackgroundTask], routes: list[RouteMount]
) -> None:
    """Promotion policies (issue 11): the promotion API; the promotion engine runs beside the
    delivery engine (`dockyard worker`, or here when RUN_WORKERS is true)."""
    routes.append(_promotion_routes)
    if settings.run_workers:
        from dockyard.policies.pruning_worker import run_pruning_worker
        from dockyard.policies.worker import run_promotion_worker

        background.extend([run_promotion_worker, run_pruning_worker])


def _promotion_routes(app: FastAPI) -> None:
    from dockyard.policies.pruning_routes import router as pruning_router
    from dockyard.policies.routes import router as promotion_router

    app.include_router(promotion_router)
    # Pruning policies (issue 12): their worker runs beside the promotion engine.
    app.include_router(pruning_router)


def app_factory() -> FastAPI:
    """Entry point for the ASGI server's worker processes (settings come from the environment)."""
    from dockyard.storage.datadir import use_private_umask

    # `dockyard serve` set it already; an ASGI server started by hand gets it here.
    use_private_umask()
    settings = settings_from_env()
    configure_logging(settings.log_level)
    # A worker that runs the engines (RUN_WORKERS) is the whole registry in one process: all
    # at once. An HTTP worker of a `serve` loads the API and page routes when first asked.
    return create_app(settings, lazy_routes=not settings.run_workers)
