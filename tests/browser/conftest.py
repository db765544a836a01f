"""Browser-test fixtures: one dockyard server per module (loopback receivers allowed), Debian's
Chromium driven by Playwright (never a downloaded browser), and real HTTP/HTTPS receivers."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.fakes.databases import create_database, drop_database
from tests.fakes.server import RunningServer, make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
TIMEOUT_MS = 20_000

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("ui-server")
    # Receivers in these tests listen on loopback, which the default SSRF policy blocks.
    srv = make_server(
        folder, _off_loop(create_database, folder), {"DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": ""}
    )
    srv.start()
    yield srv
    srv.kill()
    _off_loop(drop_database, srv.database_url)


def _off_loop(func: Callable[[Any], Any], arg: Any) -> Any:
    """Playwright's sync API keeps an event loop running in this thread, and the database
    helpers use asyncio.run(): run them in a thread of their own."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(func, arg).result()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # `make test` installs Debian's chromium; a missing browser is a failure, not a skip.
    assert Path(CHROMIUM).exists(), "Debian's chromium is not installed (apt-get install chromium)"
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def browser_context_factory(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """New browser contexts (separate cookie jars: one per signed-in user), closed at the end."""
    made: list[BrowserContext] = []

    def factory(width: int = 1280) -> BrowserContext:
        ctx = browser.new_context(viewport={"width": width, "height": 900})
        ctx.set_default_timeout(TIMEOUT_MS)
        made.append(ctx)
        return ctx

    yield factory
    for ctx in made:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def login(page: Page, server: RunningServer, username: str, password: str) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password or access token").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Repositories")).to_be_visible()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@dataclass
class Receiver:
    """A webhook receiver on loopback that records every POST and answers `status`."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r["json"] for r in self.requests]


def _start_receiver(context: ssl.SSLContext | None) -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            with receiver.lock:
                receiver.requests.append(
                    {"json": parsed, "raw": raw, "headers": dict(self.headers)}
                )
            body = b"received by the test receiver"
            self.send_response(receiver.status)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    scheme = "http"
    if context is not None:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    receiver.url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}/hook"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return receiver, httpd


@pytest.fixture(scope="module")
def http_receiver() -> Iterator[Receiver]:
    receiver, httpd = _start_receiver(None)
    yield receiver
    httpd.shutdown()
    httpd.server_close()


@dataclass
class TlsReceiver:
    receiver: Receiver
    ca_pem: str


@pytest.fixture(scope="module")
def https_receiver() -> Iterator[TlsReceiver]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    receiver, httpd = _start_receiver(ctx)
    yield TlsReceiver(receiver, ca.cert_pem.bytes().decode())
    httpd.shutdown()
    httpd.server_close()
