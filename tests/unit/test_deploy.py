"""The reference deployment in deploy/: the Compose file against the compose-spec schema
(vendored by check-jsonschema, offline), the nginx upstreams, and the Helm chart's structure (no
helm binary here): every value a template reads exists, every DOCKYARD_* variable is a setting."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from dockyard.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CHART = DEPLOY / "helm" / "dockyard"
SETTINGS = {f"DOCKYARD_{name.upper()}" for name in Settings.model_fields}


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def test_the_compose_file_is_valid_compose() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_two_api_replicas_a_worker_and_their_backing_services() -> None:
    services = _compose()["services"]
    assert {"postgres", "minio", "migrate", "api-a", "api-b", "worker", "lb"} <= set(services)
    for name, role in (("api-a", "api"), ("api-b", "api"), ("worker", "worker")):
        command = services[name]["command"]
        assert command[:2] == ["dockyard", "serve"] and command[command.index("--role") + 1] == role
        env = services[name]["environment"]
        assert env["DOCKYARD_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["DOCKYARD_STORAGE"] == "s3"
        assert env["DOCKYARD_SECRET_KEY_FILE"].startswith("/run/secrets/")
        assert set(env) <= SETTINGS, set(env) - SETTINGS
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["migrate"]["command"] == ["dockyard", "db", "upgrade"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["lb"]["volumes"]


def test_nginx_balances_both_api_replicas_and_streams_bodies() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    upstream = re.search(r"upstream dockyard \{(.*?)\}", conf, re.S)
    assert upstream is not None
    assert re.findall(r"server (\S+?):5000", upstream.group(1)) == ["api-a", "api-b"]
    for directive in (
        "client_max_body_size 0;",
        "proxy_request_buffering off;",
        "proxy_buffering off;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_pass http://dockyard;",
    ):
        assert directive in conf
    assert conf.count("{") == conf.count("}")


def test_the_chart_is_a_helm_v2_chart() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "dockyard"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    assert (CHART / "templates" / "_helpers.tpl").exists()


def _lookup(values: dict[str, Any], path: str) -> bool:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_every_value_a_template_reads_is_in_values_yaml() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    templates = sorted((CHART / "templates").iterdir())
    used: set[str] = set()
    for template in templates:
        text = template.read_text()
        assert text.count("{{") == text.count("}}"), template.name
        used |= set(re.findall(r"\.Values\.([A-Za-z0-9_.]+)", text))
    missing = sorted(path for path in used if not _lookup(values, path))
    assert missing == []
    assert {"api.replicas", "worker.replicas", "database.existingSecret", "s3.bucket"} <= used


def test_each_manifest_template_names_its_kind_and_the_pods_their_roles() -> None:
    kinds = {}
    for template in (CHART / "templates").glob("*.yaml"):
        text = template.read_text()
        kind = re.search(r"^kind: (\w+)$", text, re.M)
        assert kind is not None and re.search(r"^apiVersion: \S+$", text, re.M), template.name
        kinds[template.name] = kind.group(1)
    assert sorted(kinds.values()) == ["Deployment", "Deployment", "Ingress", "Job", "Service"]
    api = (CHART / "templates" / "api-deployment.yaml").read_text()
    worker = (CHART / "templates" / "worker-deployment.yaml").read_text()
    assert '"--role", "api"' in api and '"--role", "worker"' in worker
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    names = set(re.findall(r"- name: (DOCKYARD_[A-Z0-9_]+)", helpers))
    assert {"DOCKYARD_DATABASE_URL", "DOCKYARD_SECRET_KEY_FILE", "DOCKYARD_STORAGE"} <= names
    assert names <= SETTINGS, names - SETTINGS
