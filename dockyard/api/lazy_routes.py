"""The features' routes included at once, or on the first request that needs them (`LazyRoutes`).

An HTTP worker of `dockyard serve` includes them lazily so that one serving only the registry
never imports the API and page modules. This module imports none of them: `app.py` hands it the
`RouteMount`s, and nothing here knows which features there are.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from fastapi import FastAPI
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

# Includes a feature's routers (importing their modules): at once, or lazily (LazyRoutes).
RouteMount = Callable[[FastAPI], None]


class LazyRoutes:
    """Includes the features' routes (`RouteMount`s, in order) on the first request that the
    routes included so far do not answer; until then the worker has not imported them (about
    10 MB of each HTTP worker that serves only the registry: /v2 is mounted outside this, and
    /auth/token and /health are included at once).

    The modules are imported in a thread, so the worker's other requests go on meanwhile; the
    requests that need the routes wait for them."""

    def __init__(self, app: ASGIApp, host: FastAPI, mounts: list[RouteMount]) -> None:
        self.app = app
        self.host = host
        self.mounts = list(mounts)
        self.lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.mounts and scope["type"] in ("http", "websocket") and not self._answered(scope):
            async with self.lock:
                if self.mounts:
                    await asyncio.to_thread(self._include_all)
        await self.app(scope, receive, send)

    def _answered(self, scope: Scope) -> bool:
        if scope["path"] == self.host.openapi_url:  # the document describes them all
            return False
        return any(route.matches(scope)[0] is Match.FULL for route in self.host.router.routes)

    def _include_all(self) -> None:
        while self.mounts:  # one by one: after a failed import, the next request goes on
            self.mounts[0](self.host)
            self.mounts.pop(0)
        log.info("dockyard.routes.loaded")


def include_routes(app: FastAPI, routes: list[RouteMount], *, lazy: bool) -> None:
    """Every mount's routes on `app`: now, or (`lazy`) through a `LazyRoutes` middleware."""
    if lazy:
        app.add_middleware(LazyRoutes, host=app, mounts=routes)
        return
    for mount in routes:
        mount(app)
