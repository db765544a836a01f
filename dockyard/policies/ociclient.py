"""One remote OCI registry over aiohttp: auth, blobs (HEAD, mount, chunked upload, streamed GET),
manifests (negotiated GET, PUT), tags. No database.

Auth: anonymous first; on a 401 the `WWW-Authenticate` challenge says how: `Basic` (the
credentials, a token given as the password) or `Bearer realm,service,scope` (a token fetched from
the realm with the credentials, cached per scope, the request retried once; an
`insufficient_scope` challenge fetches a token for the scope it names). Connections go through
the SSRF guard the webhooks use (`kit.ssrf`: `GuardedResolver`, `literal_guard`): a remote on a
blocked network is refused at connect time, whatever its DNS says later. Answers are never
trusted: JSON and manifest bodies are bounded, errors become `RemoteError` with a message a user
can act on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import aiohttp

from dockyard import __version__
from dockyard.kit.ssrf import BlockedAddressError, GuardedResolver, Network, literal_guard
from dockyard.policies.ociauth import Credentials, parse_challenge, scope_for
from dockyard.policies.ocibits import (
    ACCEPT_MANIFESTS,
    JSON_LIMIT,
    MANIFEST_LIMIT,
    MANIFEST_TYPES,
    SEGMENT,
    TAG_PAGES,
    BearerToken,
    BlockedRemoteError,
    Permissions,
    Rechunker,
    RemoteError,
    error_of,
    normalize_url,
    read_bounded,
    trust,
)

USER_AGENT = f"dockyard/{__version__}"


class RemoteRegistry:
    """One remote registry. Use `async with RemoteRegistry(...) as remote:` or `close()`."""

    def __init__(
        self,
        url: str,
        credentials: Credentials | None = None,
        *,
        remote_ca: str = "",
        skip_tls_verification: bool = False,
        blocked: Sequence[Network] = (),
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
    ) -> None:
        self.base = normalize_url(url)
        self.credentials = credentials or Credentials()
        self._ssl = trust(remote_ca, skip_tls_verification)
        self._tokens: dict[str, BearerToken] = {}
        self._basic = False
        self._resolver = GuardedResolver(blocked)
        connector = aiohttp.TCPConnector(resolver=self._resolver, limit=8, ttl_dns_cache=10)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=connect_timeout, sock_read=read_timeout
            ),
            headers={"User-Agent": USER_AGENT},
            auto_decompress=False,
            trace_configs=[literal_guard(blocked)] if blocked else None,
        )

    async def __aenter__(self) -> RemoteRegistry:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._session.close()
        await self._resolver.close()

    @property
    def hostport(self) -> str:
        parts = urlsplit(self.base)
        return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"

    # ----- transport and auth -----

    def _auth_header(self, scope: str) -> str | None:
        token = self._tokens.get(scope)
        if token:
            return f"Bearer {token.value}"
        return self.credentials.basic() if self._basic else None

    async def _send(
        self, method: str, url: str, scope: str, headers: Mapping[str, str], data: Any, **kw: Any
    ) -> aiohttp.ClientResponse:
        hdrs = dict(headers)
        auth = self._auth_header(scope)
        if auth:
            hdrs["Authorization"] = auth
        try:
            return await self._session.request(
                method, url, headers=hdrs, data=data, ssl=self._ssl, allow_redirects=False, **kw
            )
        except BlockedAddressError as exc:
            raise BlockedRemoteError(
                f"{self.hostport} is on a network blocked by DOCKYARD_WEBHOOK_BLOCKED_NETWORKS"
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror or str(exc.os_error)
            raise RemoteError(f"cannot connect to {self.hostport}: {reason}") from exc
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RemoteError(f"{method} {self.hostport}: {exc or type(exc).__name__}") from exc

    async def _request(
        self,
        method: str,
        path: str,
        scope: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        **kw: Any,
    ) -> aiohttp.ClientResponse:
        """The answer (the caller releases it); a 401 is answered once by authenticating."""
        url = path if "://" in path else self.base + path
        old = self._tokens.get(scope)
        if old is not None and time.monotonic() > old.expires_at:
            self._tokens[scope] = await self._fetch_token(old.realm, old.service, old.scope)
        resp = await self._send(method, url, scope, headers or {}, data, **kw)
        if resp.status != 401:
            return resp
        challenge = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        resp.release()
        had_auth = self._auth_header(scope) is not None
        if challenge is not None and challenge.scheme == "bearer" and challenge.realm:
            wanted = challenge.scope or scope
            if challenge.error == "insufficient_scope" and had_auth:
                raise RemoteError(f"{self.hostport}: the credentials lack access to {wanted}")
            self._tokens[scope] = await self._fetch_token(
                challenge.realm, challenge.service, wanted
            )
        elif challenge is not None and challenge.scheme == "basic" and not had_auth:
            if self.credentials.basic() is None:
                raise RemoteError(f"{self.hostport} asks for credentials and none were given")
            self._basic = True
        else:
            raise RemoteError(self._refused())
        if data is not None and not isinstance(data, bytes | str):
            raise RemoteError(f"{self.hostport} asked to authenticate during a streamed upload")
        resp = await self._send(method, url, scope, headers or {}, data, **kw)
        if resp.status == 401:
            again = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
            resp.release()
            if again is not None and again.error == "insufficient_scope":
                raise RemoteError(f"{self.hostport}: the credentials lack access to {scope}")
            raise RemoteError(self._refused())
        return resp

    def _refused(self) -> str:
        if self.credentials.basic() is None:
            return f"{self.hostport} refused anonymous access (401): credentials are needed"
        return f"{self.hostport} refused the credentials (401): wrong username or password?"

    async def _fetch_token(self, realm: str, service: str, scope: str) -> BearerToken:
        params = {k: v for k, v in (("service", service), ("scope", scope)) if v}
        headers = {}
        basic = self.credentials.basic()
        if basic:
            headers["Authorization"] = basic
        try:
            resp = await self._session.get(
                realm, params=params, headers=headers, ssl=self._ssl, allow_redirects=False
            )
        except BlockedAddressError as exc:
            raise BlockedRemoteError(f"the token service {realm} is on a blocked network") from exc
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RemoteError(f"cannot reach the token service {realm}: {exc}") from exc
        async with resp:
            if resp.status in (401, 403):
                raise RemoteError(self._refused())
            if resp.status != 200:
                raise await error_of(resp, f"token service {realm}")
            try:
                body = json.loads(await read_bounded(resp, JSON_LIMIT, "token answer"))
                token = body.get("token") or body.get("access_token")
                lifetime = int(body.get("expires_in") or 60)
            except (ValueError, AttributeError, TypeError) as exc:
                raise RemoteError(f"the token service {realm} answered no JSON") from exc
        if not isinstance(token, str) or not token:
            raise RemoteError(f"the token service {realm} answered no token")
        # Renewed 30 s early (and at least every minute), so a long upload never meets a 401.
        expires_at = time.monotonic() + max(min(lifetime, 86400) - 30, 30)
        return BearerToken(token, expires_at, realm, service, scope)

    # ----- blobs -----

    async def blob_exists(self, repo: str, digest: str) -> bool:
        resp = await self._request("HEAD", f"/v2/{repo}/blobs/{digest}", scope_for(repo, "pull"))
        async with resp:
            if resp.status == 200:
                return True
            if resp.status == 404:
                return False
            raise await error_of(resp, f"HEAD blob {digest} in {repo}")

    async def mount(self, repo: str, digest: str, from_repo: str) -> bool:
        """True when the remote linked the blob from `from_repo` (201); False when it started
        an upload instead (202, cancelled here) or refused."""
        scope = f"{scope_for(repo, 'pull,push')} {scope_for(from_repo, 'pull')}"
        path = f"/v2/{repo}/blobs/uploads/?mount={quote(digest)}&from={quote(from_repo)}"
        resp = await self._request("POST", path, scope)
        async with resp:
            if resp.status == 201:
                return True
            location = resp.headers.get("Location")
        if resp.status == 202 and location:
            await self._cancel(urljoin(self.base + "/", location), scope)
        return False

    async def _cancel(self, url: str, scope: str) -> None:
        try:
            resp = await self._request("DELETE", url, scope)
            resp.release()
        except RemoteError:
            pass

    async def push_blob(
        self, repo: str, digest: str, size: int, chunks: AsyncIterator[bytes]
    ) -> None:
        """POST → PATCH (one per segment, streamed) … → PUT ?digest=; never whole in memory."""
        scope = scope_for(repo, "pull,push")
        location = await self._upload_location(repo, scope)
        source, offset = Rechunker(chunks), 0
        while offset < size:
            n = min(SEGMENT, size - offset)
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(n),
                "Content-Range": f"{offset}-{offset + n - 1}",
            }
            resp = await self._request(
                "PATCH", location, scope, headers=headers, data=source.take(n)
            )
            location = await self._next_location(resp, location, f"PATCH blob {digest}")
            offset += n
        if not await source.at_end():
            raise RemoteError(f"blob {digest} is longer than its size {size}")
        sep = "&" if "?" in location else "?"
        resp = await self._request(
            "PUT",
            f"{location}{sep}digest={quote(digest)}",
            scope,
            headers={"Content-Length": "0"},
            data=b"",
        )
        async with resp:
            if resp.status != 201:
                raise await error_of(resp, f"PUT blob {digest} to {repo}")

    async def _upload_location(self, repo: str, scope: str) -> str:
        resp = await self._request("POST", f"/v2/{repo}/blobs/uploads/", scope)
        if resp.status != 202:
            async with resp:
                raise await error_of(resp, f"start an upload to {repo}")
        return await self._next_location(resp, self.base, f"start an upload to {repo}")

    async def _next_location(self, resp: aiohttp.ClientResponse, current: str, doing: str) -> str:
        async with resp:
            if resp.status not in (202, 204):
                raise await error_of(resp, doing)
            location = resp.headers.get("Location")
        return urljoin(self.base + "/", location) if location else current

    async def open_blob(self, repo: str, digest: str) -> AsyncIterator[bytes]:
        """The blob's bytes as they arrive (an async generator: `async for chunk in ...`)."""
        resp = await self._request("GET", f"/v2/{repo}/blobs/{digest}", scope_for(repo, "pull"))
        if resp.status in (307, 302, 303) and resp.headers.get("Location"):
            target = urljoin(str(resp.url), resp.headers["Location"])
            resp.release()
            resp = await self._send("GET", target, "", {}, None)
        async with resp:
            if resp.status != 200:
                raise await error_of(resp, f"GET blob {digest} from {repo}")
            async for chunk in resp.content.iter_chunked(1024 * 1024):
                yield chunk

    # ----- manifests and tags -----

    async def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, str]:
        """(body, media type, digest); a digest reference is checked against the body."""
        resp = await self._request(
            "GET",
            f"/v2/{repo}/manifests/{reference}",
            scope_for(repo, "pull"),
            headers={"Accept": ACCEPT_MANIFESTS},
        )
        async with resp:
            if resp.status != 200:
                raise await error_of(resp, f"GET manifest {repo}:{reference}")
            body = await read_bounded(resp, MANIFEST_LIMIT, "manifest")
            media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.startswith("sha256:") and reference != digest:
            raise RemoteError(f"the remote's manifest {reference} has the digest {digest}")
        if not media_type or media_type not in MANIFEST_TYPES:
            with contextlib.suppress(ValueError, AttributeError):
                media_type = str(json.loads(body).get("mediaType") or media_type)
        return body, media_type, digest

    async def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        resp = await self._request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            scope_for(repo, "pull,push"),
            headers={"Content-Type": media_type},
            data=body,
        )
        async with resp:
            if resp.status not in (200, 201):
                raise await error_of(resp, f"PUT manifest {repo}:{reference}")
        return "sha256:" + hashlib.sha256(body).hexdigest()

    async def list_tags(self, repo: str) -> list[str]:
        tags: list[str] = []
        path: str | None = f"/v2/{repo}/tags/list?n=1000"
        for _ in range(TAG_PAGES):
            if path is None:
                return tags
            resp = await self._request("GET", path, scope_for(repo, "pull"))
            async with resp:
                if resp.status != 200:
                    raise await error_of(resp, f"list the tags of {repo}")
                raw = await read_bounded(resp, JSON_LIMIT * 4, "tag list")
                link = resp.links.get("next")
                nxt = link.get("url") if link else None
            try:
                page = json.loads(raw).get("tags") or []
            except (ValueError, AttributeError) as exc:
                raise RemoteError(f"the tag list of {repo} is not JSON") from exc
            tags.extend(str(t) for t in page if isinstance(t, str))
            path = urljoin(self.base + "/", str(nxt)) if nxt else None
        raise RemoteError(f"the tag list of {repo} has more than {TAG_PAGES} pages")

    # ----- the connectivity check -----

    async def registry_type(self) -> str:
        resp = await self._request("GET", "/v2/", "")
        async with resp:
            if resp.status != 200:
                raise await error_of(resp, f"GET {self.base}/v2/")
            server = resp.headers.get("Server", "")
            version = resp.headers.get("Docker-Distribution-API-Version", "")
        host = urlsplit(self.base).hostname or ""
        if host.endswith("docker.io"):
            return "Docker Hub"
        if "dockyard" in server.lower():
            return "dockyard"
        return "OCI registry" if not version else "Docker registry"

    async def check(self, repo: str) -> Permissions:
        """Read: the tag list answers (200, or 404 for a repository not yet created). Write:
        an upload can be started (then cancelled)."""
        try:
            resp = await self._request("GET", f"/v2/{repo}/tags/list?n=1", scope_for(repo, "pull"))
        except RemoteError:
            read = False
        else:
            async with resp:
                read = resp.status in (200, 404)
        try:
            resp = await self._request(
                "POST", f"/v2/{repo}/blobs/uploads/", scope_for(repo, "pull,push")
            )
        except RemoteError:
            return Permissions(read=read, write=False)
        async with resp:
            write = resp.status == 202
            location = resp.headers.get("Location")
        if write and location:
            await self._cancel(urljoin(self.base + "/", location), scope_for(repo, "pull,push"))
        return Permissions(read=read, write=write)


__all__ = ["BlockedRemoteError", "Permissions", "RemoteError", "RemoteRegistry"]
