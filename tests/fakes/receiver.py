"""A real webhook receiver for tests: an aiohttp server (HTTP or HTTPS with a trustme
certificate) on its own thread, recording every request and answering as scripted."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import trustme
from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "ok"
    delay: float = 0.0


class Receiver:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: trustme.CA | None = None,
        client_ca: trustme.CA | None = None,
    ) -> None:
        """`client_ca` (with `tls`): the TLS handshake requires a client certificate it issued."""
        self.host = host
        self.client_ca = client_ca
        self.port = port or _free_port(host)
        self.ca = tls
        # The certificate the receiver serves (a leaf of `tls`), for tests that pin it.
        self.leaf = tls.issue_cert("127.0.0.1", "localhost") if tls is not None else None
        self.requests: list[Received] = []
        self.script: dict[str, deque[Reply]] = {}
        self.defaults: dict[str, Reply] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.ca else "http"

    def url(self, path: str = "/hook") -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def reply(self, path: str, *replies: Reply | int) -> None:
        """Answer the next requests to `path` with these replies, then with the default."""
        with self._lock:
            queue = self.script.setdefault(path, deque())
            queue.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def default(self, path: str, reply: Reply | int) -> None:
        self.defaults[path] = reply if isinstance(reply, Reply) else Reply(reply)

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received(path)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"expected {count} requests on {path}, got {len(self.received(path))}")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            self.requests.append(Received(request.path, dict(request.headers), body, time.time()))
            queue = self.script.get(request.path)
            reply = queue.popleft() if queue else self.defaults.get(request.path, Reply())
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return web.Response(status=reply.status, text=reply.body, headers=reply.headers)

    def start(self) -> Receiver:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None)
            self._runner = runner
            ctx = None
            if self.leaf is not None:
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                self.leaf.configure_cert(ctx)
                if self.client_ca is not None:
                    ctx.verify_mode = ssl.CERT_REQUIRED
                    self.client_ca.configure_trust(ctx)
            try:
                loop.run_until_complete(runner.setup())
                site = web.TCPSite(runner, self.host, self.port, ssl_context=ctx)
                loop.run_until_complete(site.start())
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ca_pem(ca: trustme.CA) -> str:
    return ca.cert_pem.bytes().decode("ascii")
