"""Request-size limits (issue 8, items 11 and 19), against the real server: a body over the
JSON limit is refused before it is read (declared) or as soon as it passes the limit (chunked),
a caller who must sign in is refused before the body is read, and a maximum upload size."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

from tests.conftest import ServerFactory
from tests.fakes.server import RunningServer
from tests.integration.registry_helpers import digest, error_code

MiB = 1024 * 1024


def raw_exchange(srv: RunningServer, head: str, body: bytes) -> bytes:
    """Send a request head and part of its body on a raw socket; return what the server says.
    The server may answer (and stop reading) before all of `body` is sent."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=60) as sock:
        sock.sendall(head.encode())
        try:
            for start in range(0, len(body), 64 * 1024):
                sock.sendall(body[start : start + 64 * 1024])
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        try:
            while b"\r\n\r\n" not in received or not _complete(received):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except ConnectionResetError:
            pass
        return received


def _complete(data: bytes) -> bool:
    head, _, rest = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(rest) >= int(line.split(b":", 1)[1])
    return False


def status_and_body(response: bytes) -> tuple[int, dict[str, object]]:
    head, _, rest = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(rest) if rest else {}


def test_anonymous_body_with_a_huge_declared_length_is_refused_unread(
    server: RunningServer,
) -> None:
    srv = server
    declared = 500 * MiB
    head = (
        "POST /enzi/v0/accounts HTTP/1.1\r\n"
        f"Host: {srv.host}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    # A few MiB really sent: the server answers without waiting for the other 497.
    body = b'{"name": "' + b"a" * (3 * MiB)
    status, answer = status_and_body(raw_exchange(srv, head, body))
    assert status == 413
    assert answer["errors"][0]["code"] == "REQUEST_TOO_LARGE"  # type: ignore[index]
    with srv.client() as c:
        assert c.get("/health").status_code == 200


def _chunks(total: int, piece: bytes = b"a" * 65536) -> Iterator[bytes]:
    yield b'{"type": "TAG_PUSH", "key": "admin/big", "endpoint": "https://example.com/'
    sent = 0
    while sent < total:
        yield piece
        sent += len(piece)
    yield b'"}'


def test_chunked_json_body_is_cut_at_the_limit(server: RunningServer) -> None:
    srv = server
    with srv.client(auth=srv.admin_auth) as c:
        r = c.post(
            "/api/v0/webhooks",
            content=_chunks(3 * MiB),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 413, r.text
        assert error_code(r) == "REQUEST_TOO_LARGE"
        assert r.headers.get("x-request-id")
        # Under the limit, the same route works as before.
        small = {"type": "TAG_PUSH", "key": "admin/big", "endpoint": "https://example.com/hook"}
        r = c.post("/api/v0/webhooks", json=small)
        assert r.status_code < 500 and r.status_code != 413, r.text
    with srv.client() as c:
        assert c.get("/health").status_code == 200


def test_anonymous_caller_is_refused_before_the_body_is_parsed(server: RunningServer) -> None:
    srv = server
    with srv.client() as c:
        # Not JSON at all: answering 400 would mean the body was parsed before the 401.
        r = c.post(
            "/enzi/v0/accounts", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 401, r.text
        r = c.post("/api/v0/repositories/admin", content=b"{not json")
        assert r.status_code == 401, r.text
        r = c.post("/api/v0/api_tokens", content=b"{not json")
        assert r.status_code == 401, r.text
        # A streamed body (no declared length) of 12 MiB: refused for who sends it, not its size.
        r = c.post(
            "/enzi/v0/accounts",
            content=_chunks(12 * MiB),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 401, r.text
        assert c.get("/health").status_code == 200
    with srv.client(auth=srv.admin_auth) as c:
        r = c.post(
            "/enzi/v0/accounts", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400
        assert error_code(r) == "INVALID_JSON"


def test_maximum_upload_size(server_factory: ServerFactory) -> None:
    limit = 100_000
    srv = server_factory(env={"DOCKYARD_MAX_UPLOAD_BYTES": str(limit)})
    big = b"b" * (limit + 1)
    fits = b"f" * limit
    with srv.client(auth=srv.admin_auth) as c:
        # Monolithic, declared length over the limit.
        r = c.post("/v2/admin/cap/blobs/uploads/", params={"digest": digest(big)}, content=big)
        assert r.status_code == 413, r.text
        assert error_code(r) == "SIZE_INVALID"
        # Chunked upload: the second chunk would take it over.
        r = c.post("/v2/admin/cap/blobs/uploads/")
        assert r.status_code == 202
        location = r.headers["location"]
        r = c.patch(location, content=fits[:60_000], headers={"Content-Range": "0-59999"})
        assert r.status_code == 202
        r = c.patch(location, content=big[:60_000], headers={"Content-Range": "60000-119999"})
        assert r.status_code == 413
        assert error_code(r) == "SIZE_INVALID"
        # A streamed body declares no length: it is cut where it passes the limit.
        r = c.patch(location, content=iter([big[:30_000], big[:30_000]]))
        assert r.status_code == 413
        # Nothing past the limit reached the upload.
        assert int(c.get(location).headers["range"].split("-")[1]) < limit
        assert c.delete(location).status_code == 204
        # Exactly at the limit is fine.
        r = c.post("/v2/admin/cap/blobs/uploads/", params={"digest": digest(fits)}, content=fits)
        assert r.status_code == 201, r.text
        assert c.get(f"/v2/admin/cap/blobs/{digest(fits)}").content == fits


def test_unlimited_upload_by_default(server: RunningServer) -> None:
    data = b"u" * (2 * MiB)
    with server.client(auth=server.admin_auth) as c:
        r = c.post("/v2/admin/free/blobs/uploads/", params={"digest": digest(data)}, content=data)
        assert r.status_code == 201, r.text
