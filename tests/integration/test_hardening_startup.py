"""Start-up and liveness, end to end with the real `dockyard serve`: flags and --config reach
every process of one serve (the webhook delivery child included), a busy port, an unwritable
data folder and a shadowing `dockyard/` folder each end in one clear line or just work, and
/health reports the delivery process's liveness and the data folder's free space."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.fakes.databases import create_database, drop_database, postgres_base_url
from tests.fakes.receiver import Receiver
from tests.fakes.server import ADMIN_PASSWORD, RunningServer, free_port

pytestmark = pytest.mark.e2e

DOCKYARD_SCRIPT = Path(sys.executable).parent / "dockyard"


def clean_env(**extra: str) -> dict[str, str]:
    """The test runner's environment without any DOCKYARD_* setting (flags and files only)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["DOCKYARD_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    env.update(extra)
    return env


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def health(url: str) -> httpx.Response | None:
    try:
        return httpx.get(f"{url}/health", timeout=5)
    except httpx.HTTPError:
        return None


class Serve:
    """`dockyard serve` started by hand: own command line, working folder and environment."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        self.log_path = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_healthy(self, url: str) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"dockyard exited early:\n{self.logs()[-4000:]}")
            answer = health(url)
            return answer is not None and answer.status_code == 200

        try:
            wait_until(ready)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()[-4000:]}") from None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(15)


@pytest.fixture
def serves() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for serve in started:
        serve.kill()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    """ "" on SQLite (the default database in the data folder, as a user has it), else a fresh
    PostgreSQL database."""
    if postgres_base_url() is None:
        yield ""
        return
    url = create_database(tmp_path)
    yield url
    drop_database(url)


def subscribe_and_create_repo(url: str, receiver: Receiver) -> None:
    with httpx.Client(base_url=url, auth=("admin", ADMIN_PASSWORD), timeout=30) as client:
        created = client.post(
            "/api/v0/webhooks", json={"type": "REPO_EVENT", "endpoint": receiver.url("/repo")}
        )
        assert created.status_code == 201, created.text
        repo = client.post("/api/v0/repositories/admin", json={"name": "hello"})
        assert repo.status_code == 201, repo.text


def test_serve_flags_and_config_reach_the_delivery_child(
    tmp_path: Path, serves: list[Serve], database: str
) -> None:
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    data_dir = tmp_path / "data"
    port = free_port()
    # Loopback receivers are allowed only through the file: were it not read by the delivery
    # child, its attempt would be blocked.
    config = tmp_path / "dockyard.yaml"
    lines = ['DOCKYARD_WEBHOOK_BLOCKED_NETWORKS: ""']
    if database:
        lines.append(f"database_url: {database}")
    config.write_text("\n".join(lines) + "\n")
    command = [sys.executable, "-m", "dockyard", "serve", "--data-dir", str(data_dir)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--config", str(config)]
    serve = Serve(command, cwd, clean_env(), tmp_path / "serve.log")
    serves.append(serve)
    url = f"http://127.0.0.1:{port}"
    serve.wait_healthy(url)

    with Receiver() as receiver:
        subscribe_and_create_repo(url, receiver)
        [got] = receiver.wait_for(1, "/repo", timeout=30)
    assert got.json["contents"]["repository"] == "hello"
    # Nobody fell back to the default data folder in the working folder.
    assert not (cwd / "dockyard-data").exists(), sorted(p.name for p in cwd.iterdir())
    # The delivery child beats into the configured folder (its first beat may follow the first
    # delivery: it probes the database first, at a lower CPU priority).
    wait_until(lambda: (data_dir / "run" / "delivery-heartbeat.json").exists())


def test_serve_from_a_folder_holding_a_dockyard_package(
    tmp_path: Path, serves: list[Serve], database: str
) -> None:
    # A clone of this repository (or anything named dockyard) in the working folder.
    cwd = tmp_path / "home"
    (cwd / "dockyard").mkdir(parents=True)
    (cwd / "dockyard" / "__init__.py").write_text("raise ImportError('the shadowing copy')\n")
    port = free_port()
    env = clean_env(DOCKYARD_WEBHOOK_BLOCKED_NETWORKS="")
    if database:
        env["DOCKYARD_DATABASE_URL"] = database
    command = [str(DOCKYARD_SCRIPT), "serve", "--data-dir", str(tmp_path / "data")]
    serve = Serve([*command, "--port", str(port)], cwd, env, tmp_path / "serve.log")
    serves.append(serve)
    url = f"http://127.0.0.1:{port}"
    serve.wait_healthy(url)
    with Receiver() as receiver:
        subscribe_and_create_repo(url, receiver)
        receiver.wait_for(1, "/repo", timeout=30)
    assert "the shadowing copy" not in serve.logs()


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_second_serve_on_a_busy_port_exits_with_one_line(
    server: RunningServer, tmp_path: Path
) -> None:
    other = tmp_path / "other-data"
    done = run_cli("serve", "--port", str(server.port), "--data-dir", str(other), cwd=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"127.0.0.1:{server.port}" in lines[0]
    assert "address already in use" in lines[0]
    assert "listening" not in done.stderr
    # It stopped before touching anything: no data folder, no database of its own.
    assert not other.exists()
    # The first server still answers alone.
    with server.client() as client:
        assert client.get("/health").status_code == 200


def test_unwritable_data_folder_exits_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = run_cli(
        "serve", "--port", str(free_port()), "--data-dir", str(blocker / "data"), cwd=tmp_path
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "data folder" in lines[0] and "not writable" in lines[0]
    assert str(blocker / "data") in lines[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_data_folder_exits_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)
    try:
        done = run_cli("serve", "--port", str(free_port()), "--data-dir", str(data), cwd=tmp_path)
    finally:
        data.chmod(0o700)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "not writable" in lines[0], done.stderr


def test_ssrf_policy_off_logs_a_warning(server_factory: ServerFactory) -> None:
    open_policy = server_factory({"DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": ""})
    default_policy = server_factory()
    warnings = [
        json.loads(line)
        for line in open_policy.logs().splitlines()
        if "webhook.ssrf_policy.disabled" in line
    ]
    assert len(warnings) == 1, open_policy.logs()
    assert warnings[0]["level"] == "warning"
    assert "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS" in warnings[0]["detail"]
    assert "webhook.ssrf_policy.disabled" not in default_policy.logs()


# --- /health ---------------------------------------------------------------------------------


def launch_without_waiting(srv: RunningServer) -> None:
    """Start like RunningServer.start, but accept any answer from /health (it may be 503)."""
    with srv.log_path.open("ab") as log:
        srv.proc = subprocess.Popen(
            [sys.executable, "-m", "dockyard", "serve"],
            env={**os.environ, **srv.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_until(lambda: health(srv.url) is not None)


def test_health_reports_a_data_folder_short_of_space(server_factory: ServerFactory) -> None:
    srv = server_factory({"DOCKYARD_HEALTH_MIN_FREE_BYTES": str(2**62)}, start=False)
    launch_without_waiting(srv)
    answer = health(srv.url)
    assert answer is not None and answer.status_code == 503
    body = answer.json()
    assert body["healthy"] is False
    assert set(body["problems"]) == {"disk"}
    assert "DOCKYARD_HEALTH_MIN_FREE_BYTES" in body["problems"]["disk"]
    assert 0 < body["disk"]["freeBytes"] < body["disk"]["minFreeBytes"]


def test_health_reports_free_space_when_healthy(server: RunningServer) -> None:
    with server.client() as client:
        answer = client.get("/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["healthy"] is True
    assert body["disk"]["freeBytes"] >= body["disk"]["minFreeBytes"] > 0
    assert body["delivery"]["supervised"] is True


def supervisor_state(srv: RunningServer) -> dict[str, Any] | None:
    try:
        return dict(json.loads((srv.data_dir / "run" / "delivery-supervisor.json").read_text()))
    except (OSError, ValueError):
        return None


# How long a delivery child may take to start and beat on a loaded CI machine.
CHILD_START = 120.0


def running_child(srv: RunningServer, other_than: int | None = None) -> int:
    seen: list[dict[str, Any] | None] = []

    def current() -> int | None:
        state = supervisor_state(srv)
        seen[:] = [state]
        if state and state["running"] and state["pid"] != other_than:
            return int(state["pid"])
        return None

    # A loaded CI machine can take a while to start a Python child: a generous bound, and the
    # supervisor's last record in the failure message so a real fault is told from slowness.
    try:
        return int(wait_until(current, timeout=CHILD_START))
    except AssertionError as exc:
        raise AssertionError(f"no running delivery child; supervisor state: {seen}") from exc


def delivery_problem(srv: RunningServer) -> str | None:
    answer = health(srv.url)
    if answer is None or answer.status_code != 503:
        return None
    return answer.json()["problems"].get("delivery")


def test_health_unhealthy_while_the_delivery_process_is_stalled(
    server_factory: ServerFactory,
) -> None:
    srv = server_factory({"DOCKYARD_HEALTH_HEARTBEAT_TIMEOUT": "1.5"})
    child = running_child(srv)
    # A child's first beat follows its start, which a loaded CI machine makes slow.
    wait_until(lambda: (srv.data_dir / "run" / "delivery-heartbeat.json").exists(), CHILD_START)
    os.kill(child, signal.SIGSTOP)
    try:
        problem = wait_until(lambda: delivery_problem(srv))
        assert "no heartbeat" in problem and str(child) in problem
    finally:
        os.kill(child, signal.SIGCONT)
    # Resumed, it beats again and the server is healthy again.
    wait_until(lambda: (answer := health(srv.url)) is not None and answer.status_code == 200)


def test_health_unhealthy_while_the_delivery_process_keeps_exiting(
    server_factory: ServerFactory,
) -> None:
    srv = server_factory()
    child = running_child(srv)
    for _ in range(3):
        os.kill(child, signal.SIGKILL)
        if _ < 2:
            child = running_child(srv, other_than=child)
    # The supervisor waits 4 s before the fourth start: /health says why it is unhealthy.
    problem = wait_until(lambda: delivery_problem(srv))
    assert "exited 3 times in a row" in problem
    answer = health(srv.url)
    assert answer is not None
    if answer.status_code == 503:
        assert answer.json()["delivery"]["restarts"] == 3
    # The fourth child runs and beats: healthy again (once it has started, which takes a while
    # on a loaded machine).
    wait_until(
        lambda: (answer := health(srv.url)) is not None and answer.status_code == 200, CHILD_START
    )
    final = health(srv.url)
    assert final is not None and final.json()["delivery"]["restarts"] == 3


# --- a first image without Internet access (README) ------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_make_test_image_script_gives_a_pushable_image(
    server: RunningServer, tmp_path: Path
) -> None:
    from tests.fakes import skopeo

    layout = tmp_path / "my-image"
    script = REPO_ROOT / "scripts" / "make-test-image.py"
    made = subprocess.run(
        [sys.executable, str(script), str(layout)], capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    again = subprocess.run(
        [sys.executable, str(script), str(layout), "--tag", "v2", "--arch", "arm64"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    skopeo.push(f"oci:{layout}:latest", server.host, "admin/hello:latest", server.admin_auth)
    skopeo.push(f"oci:{layout}:v2", server.host, "admin/hello:v2", server.admin_auth)
    with server.client(auth=server.admin_auth) as client:
        tags = client.get("/v2/admin/hello/tags/list")
    assert tags.status_code == 200, tags.text
    assert sorted(tags.json()["tags"]) == ["latest", "v2"]
