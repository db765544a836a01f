"""Manifest and blob GET/HEAD, served without the router: the requests clients make most (a
pull GETs a manifest and each layer, a push HEADs each layer first).

A read's own work (one SELECT, the access decision, a small file read, the group-committed
events) costs less than the framework around it: matching the path against every /v2 route,
solving the (empty) dependency list, wrapping the handler. This pure ASGI middleware answers
`GET`/`HEAD /v2/<namespace>/<repository>/manifests/<reference>` and `.../blobs/<digest>` by
calling the same handlers (`manifests.get_manifest`, `blobs.get_blob`) directly; their errors
are answered by the registry application's own exception handlers, so the answer is the one the
route gives, byte for byte. It sits inside
`UnhandledErrorMiddleware` and `ApiVersionMiddleware`: an unexpected error and the version
header are handled exactly as for any other route. Everything else goes on to the router.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.registry.blobs import get_blob
from dockyard.registry.manifests import get_manifest

# The routes' own shapes: each parameter is one path segment (Starlette's `[^/]+`). A blob's
# digest holds a ':', which keeps `blobs/uploads` (the upload routes) out.
_READ_PATH = re.compile(r"^/v2/([^/]+)/([^/]+)/(manifests|blobs)/([^/]+)$")


def read_route(scope: Scope) -> tuple[str, ...] | None:
    """(namespace, repository, "manifests" | "blobs", reference) for a read the fast path
    answers, else None."""
    if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
        return None
    match = _READ_PATH.match(scope["path"])
    if match is None or (match.group(3) == "blobs" and ":" not in match.group(4)):
        return None
    return match.groups()


class RegistryReadFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = read_route(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        namespace, repository, kind, reference = route
        handler = get_manifest if kind == "manifests" else get_blob
        try:
            response = await handler(request, namespace, repository, reference)
        except Exception as exc:
            response = await _handled(request, exc)
        await response(scope, receive, send)


async def _handled(request: Request, exc: Exception) -> Response:
    """The answer the application's exception handler for `exc` gives (the most specific class
    first, as Starlette looks it up); re-raised when none is registered."""
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None and cls is not Exception:
            response: Response = await handler(request, exc)
            return response
    raise exc
