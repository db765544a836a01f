"""A route class for the JSON APIs: who is calling is settled before the body is read.

FastAPI reads and parses a route's body before it solves the route's dependencies, so an
anonymous caller would have its JSON read, parsed and validated before `require_principal`
answered 401. Routes of this class resolve the caller first when they require one.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from dockyard.auth.deps import require_principal


def _requires(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(sub.call is call or _requires(sub, call) for sub in dependant.dependencies)


class AuthenticateFirstRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None or not _requires(self.dependant, require_principal):
            return handler

        async def authenticated_first(request: Request) -> Response:
            # The result is cached on the request: the route's own dependency reuses it.
            await require_principal(request)
            return await handler(request)

        return authenticated_first
