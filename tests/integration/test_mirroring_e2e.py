"""Push and poll mirroring end to end: the real server, Debian's docker-registry on loopback as
the remote, skopeo on both sides and a real webhook receiver. A tag that meets a push mirroring
policy's rules arrives on the remote (an index with its children, pulled back with equal
digests) and PUSH_MIRRORING fires once; poll mirroring picks up a new and a moved tag (one
POLL_MIRRORING each); with the remote down lastStatus says so and a later run succeeds."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.fakes.oci import build_image, build_multiplatform, make_layer
from tests.fakes.receiver import Receiver
from tests.fakes.server import free_port
from tests.fakes.skopeo import push, skopeo

DOCKER_REGISTRY = Path("/usr/bin/docker-registry")
# No skip when docker-registry is missing: `make test` installs it, so its absence must fail.
pytestmark = [pytest.mark.e2e]
ENV = {"DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": "", "DOCKYARD_POLL_MIRROR_INTERVAL": "3600"}


class Distribution:
    """Debian's docker-registry on a loopback port, filesystem storage in tmp_path."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "registry.yml"
        self.config.write_text(
            "version: 0.1\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.root / "registry.log").open("ab")
        self.proc = subprocess.Popen(
            [str(DOCKER_REGISTRY), "serve", str(self.config)], stdout=log, stderr=log
        )
        log.close()
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("docker-registry did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Distribution]:
    dist = Distribution(tmp_path / "remote")
    dist.start()
    yield dist
    dist.stop()


def raw_digest(host: str, image: str, creds: tuple[str, str] | None = None) -> str:
    auth = ["--creds", f"{creds[0]}:{creds[1]}"] if creds else []
    out = skopeo("inspect", "--raw", "--tls-verify=false", *auth, f"docker://{host}/{image}").stdout
    return "sha256:" + hashlib.sha256(out.encode()).hexdigest()


def push_remote(src: str, host: str, image: str) -> None:
    skopeo("copy", "--all", "--dest-tls-verify=false", src, f"docker://{host}/{image}")


def subscribe(c: httpx.Client, type_: str, endpoint: str, key: str) -> None:
    r = c.post("/api/v0/webhooks", json={"type": type_, "endpoint": endpoint, "key": key})
    assert r.status_code == 201, r.text


def remote_body(host: str, repository: str) -> dict[str, Any]:
    return {
        "remoteHost": f"http://{host}",
        "remoteRepository": repository,
        "remoteCA": "",
        "skipTLSVerification": False,
        "enabled": True,
        "username": "",
        "password": "",
        "authToken": "",
    }


def wait_until(check: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.3)


def test_push_mirroring_to_docker_registry(
    server_factory: ServerFactory, remote: Distribution, tmp_path: Path
) -> None:
    srv = server_factory(ENV)
    with Receiver() as rx, srv.client(auth=srv.admin_auth) as c:
        assert c.post("/api/v0/repositories/admin", json={"name": "app"}).status_code == 201
        subscribe(c, "PUSH_MIRRORING", rx.url("/push"), "admin/app")
        body = {
            **remote_body(remote.host, "mirror/app"),
            "rules": [{"field": "tag", "operator": "sw", "values": ["v"]}],
            "tagTemplate": "%n-dr",
            "password": "not-returned",
        }
        bad = c.post(
            "/api/v0/repositories/admin/app/pushMirroringPolicies",
            json={**body, "rules": [{"field": "tag", "operator": "zz", "values": ["v"]}]},
        )
        assert bad.status_code == 400, bad.text
        assert bad.json()["errors"][0]["code"] == "INVALID_PUSH_MIRRORING_POLICY"
        assert "rule 1" in bad.text
        r = c.post("/api/v0/repositories/admin/app/pushMirroringPolicies", json=body)
        assert r.status_code == 201, r.text
        policy = r.json()
        assert "password" not in policy and "not-returned" not in r.text
        assert policy["localRepository"] == "admin/app"

        index = build_multiplatform(tmp_path / "multi", tag="v1")
        push(index.ref("v1"), srv.host, "admin/app:v1", srv.admin_auth, "--all")
        other = build_image(tmp_path / "dev", tag="dev")
        push(other.ref("dev"), srv.host, "admin/app:dev", srv.admin_auth)

        [hook] = rx.wait_for(1, "/push", timeout=120)
        contents = hook.json["contents"]
        assert contents["tag"] == "v1"
        assert contents["mirroring"]["remoteTag"] == "v1-dr"
        assert contents["mirroring"]["remoteRepository"] == "mirror/app"
        local = raw_digest(srv.host, "admin/app:v1", srv.admin_auth)
        assert raw_digest(remote.host, "mirror/app:v1-dr") == local == contents["digest"]
        skopeo(
            "copy",
            "--all",
            "--src-tls-verify=false",
            f"docker://{remote.host}/mirror/app:v1-dr",
            f"oci:{tmp_path / 'back'}:v1",
        )
        got = c.get(f"/api/v0/repositories/admin/app/pushMirroringPolicies/{policy['id']}").json()
        assert got["lastStatus"]["code"] == 200 and got["lastMirroredAt"]
        generic = c.get("/api/v0/repositories/admin/app/mirroringPolicies").json()
        assert [p["mirroringType"] for p in generic] == ["push"]

        # Manual: the tag the rules left out goes on demand.
        r = c.post(
            "/api/v0/repositories/admin/app/tags/dev/pushMirroring",
            json={**remote_body(remote.host, "mirror/app"), "remoteTag": "manual"},
        )
        assert r.status_code == 201, r.text
        wait_until(lambda: len(rx.received("/push")) >= 2)
        assert raw_digest(remote.host, "mirror/app:manual") == raw_digest(
            srv.host, "admin/app:dev", srv.admin_auth
        )
        time.sleep(2)
        assert len(rx.received("/push")) == 2  # once per mirroring, never for the dev push
        r = c.delete(f"/api/v0/repositories/admin/app/pushMirroringPolicies/{policy['id']}")
        assert r.status_code == 204
        assert c.get("/api/v0/repositories/admin/app/mirroringPolicies").json() == []


def _status(c: httpx.Client, pid: str) -> dict[str, Any]:
    r = c.get(f"/api/v0/repositories/admin/copy/pollMirroringPolicies/{pid}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_poll_mirroring_new_and_moved_tags_and_a_remote_down(
    server_factory: ServerFactory, remote: Distribution, tmp_path: Path
) -> None:
    first = build_image(tmp_path / "one", tag="1.0")
    push_remote(first.ref("1.0"), remote.host, "up/app:1.0")
    srv = server_factory(ENV)
    with Receiver() as rx, srv.client(auth=srv.admin_auth) as c:
        assert c.post("/api/v0/repositories/admin", json={"name": "copy"}).status_code == 201
        subscribe(c, "POLL_MIRRORING", rx.url("/poll"), "admin/copy")
        r = c.post(
            "/api/v0/repositories/admin/copy/pollMirroringPolicies",
            json=remote_body(remote.host, "up/app"),
        )
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        assert "rules" not in r.json()
        [hook] = rx.wait_for(1, "/poll", timeout=120)
        assert hook.json["contents"]["tag"] == "1.0"
        assert raw_digest(srv.host, "admin/copy:1.0", srv.admin_auth) == first.manifest_digest

        second = build_image(tmp_path / "two", [make_layer({"two.txt": b"two\n"})], tag="2.0")
        push_remote(second.ref("2.0"), remote.host, "up/app:2.0")
        push_remote(second.ref("2.0"), remote.host, "up/app:1.0")  # 1.0 moves
        assert c.post("/api/v0/jobs", json={"action": "poll_mirror"}).status_code == 202
        hooks = rx.wait_for(3, "/poll", timeout=120)
        assert sorted(h.json["contents"]["tag"] for h in hooks[1:]) == ["1.0", "2.0"]
        for tag in ("1.0", "2.0"):
            assert (
                raw_digest(srv.host, f"admin/copy:{tag}", srv.admin_auth) == second.manifest_digest
            )
        assert _status(c, pid)["lastStatus"]["code"] == 200

        remote.stop()
        assert c.post("/api/v0/jobs", json={"action": "poll_mirror"}).status_code == 202
        down = wait_until(lambda: (s := _status(c, pid)["lastStatus"])["code"] != 200 and s)
        assert remote.host in down["detail"], down
        remote.start()
        wait_until(lambda: _status(c, pid)["lastStatus"]["code"] == 200)
        assert c.post("/api/v0/jobs", json={"action": "poll_mirror"}).status_code == 202
        time.sleep(3)
        assert len(rx.received("/poll")) == 3  # nothing new: no event
