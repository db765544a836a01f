"""Settings: embedded defaults < optional YAML file (`--config`) < DOCKYARD_* environment variables.

Loaded once by the CLI and passed down; there is no module-level settings object.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_BLOCKED_NETWORKS = (
    "127.0.0.0/8,::1/128,169.254.0.0/16,fe80::/10,0.0.0.0/8,::/128,224.0.0.0/4,ff00::/8"
)
DEFAULT_RETRY_SCHEDULE = "5,60,300,1800,7200,18000,36000,36000"


def default_workers() -> int:
    """One HTTP worker per CPU this process may run on (its affinity, which containers and
    taskset narrow; os.cpu_count() would count the host's), at least 1 and at most 64."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(64, cpus))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCKYARD_", extra="ignore")

    data_dir: Path = Path("./dockyard-data")
    host: str = "127.0.0.1"
    port: int = 5000
    external_url: str = ""
    # Believe X-Forwarded-Proto (the scheme clients used) only behind a proxy that sets it.
    trust_proxy_headers: bool = False
    database_url: str = ""
    admin_password: str = ""
    log_level: str = "INFO"
    workers: int = Field(default_factory=default_workers, ge=1, le=64)
    # Run webhook delivery workers inside `dockyard serve` (the single-process default).
    run_workers: bool = True
    # The niceness of serve's delivery child: pushes get the shared CPU first (0: same priority).
    delivery_nice: int = Field(default=10, ge=0, le=19)
    # How many delivery processes `dockyard serve` (or `dockyard worker`) runs; 1 = one child.
    delivery_processes: int = Field(default=1, ge=1, le=8)
    # What `dockyard serve` runs: "api" (HTTP only), "worker" (delivery, scanning, policies; no
    # HTTP) or "all" (both). Several nodes scale API replicas and workers separately.
    role: Literal["api", "worker", "all"] = "all"

    # A push to a missing repository creates it (in a namespace the pusher administers).
    # POST /api/v0/meta/settings {"createRepositoryOnPush"} overrides it at run time.
    create_repository_on_push: bool = True
    # When a pull writes its TAG_PULL/MANIFEST_PULL events: "subscribed" (only while a live
    # subscription of those types could match the repository: its key, its namespace's or a
    # global one) or "always" (every pull, so the Activity log keeps them as an audit trail).
    pull_events: Literal["subscribed", "always"] = "subscribed"
    # /v2 401s challenge with Docker token auth (Bearer realm=.../auth/token); false: Basic.
    registry_token_auth: bool = True
    max_manifest_bytes: int = 4 * 1024 * 1024
    # Request bodies outside /v2 (JSON, forms): larger ones get 413 before they are read.
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1)
    # Largest blob one upload may grow to; 0 means no limit.
    max_upload_bytes: int = Field(default=0, ge=0)
    secret_key: str = ""
    # A file holding one secret from which every replica derives the same keys (UI sessions,
    # registry tokens, remote credentials); without it, PostgreSQL keeps generated ones.
    secret_key_file: str = ""
    # The registry token signing key (PEM), filled in by the CLI from the file above or the
    # database; empty: a key generated once into the data folder (one node).
    registry_token_key: str = ""
    # Fernet key (urlsafe base64, 32 bytes) encrypting remote registries' credentials; empty:
    # a key generated once into the data folder (policy_secret_key, mode 0600).
    policy_secret_key: str = ""
    # Poll mirroring: how often (seconds) every enabled poll mirroring policy's remote is read.
    poll_mirror_interval: float = Field(default=1800.0, ge=1)
    # Pruning: how often (seconds) every repository with an enabled pruning policy is pruned.
    pruning_interval: float = Field(default=3600.0, ge=1)
    session_cookie_secure: bool = False
    # /health answers 503 ("disk") when the data folder's file system has less free space.
    health_min_free_bytes: int = Field(default=100 * 1024 * 1024, ge=0)
    # /health answers 503 ("delivery") when the delivery engine has not beaten for this long.
    health_heartbeat_timeout: float = Field(default=30.0, gt=0)
    # GET /metrics: "off" (404), "authenticated" (registry admins, or the bearer token below),
    # or "public" (anyone who can reach the port: put it behind a firewall).
    metrics: Literal["off", "authenticated", "public"] = "authenticated"
    # A token a Prometheus scraper sends as `Authorization: Bearer <token>` (no account needed).
    metrics_token: str = ""

    # Blob storage: "filesystem" (the data folder) or "s3" (any S3-compatible object store,
    # shared by every replica). Empty S3 keys: botocore's own chain (environment, role).
    storage: Literal["filesystem", "s3"] = "filesystem"
    s3_endpoint: str = ""
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_prefix: str = ""
    # Blob GETs answer 307 to a presigned URL of the object store (clients must reach it).
    s3_redirect: bool = False

    webhook_connect_timeout: float = 5.0
    webhook_total_timeout: float = 15.0
    webhook_retry_schedule: str = DEFAULT_RETRY_SCHEDULE
    webhook_max_per_endpoint: int = 8
    webhook_concurrency: int = 256
    webhook_blocked_networks: str = DEFAULT_BLOCKED_NETWORKS
    webhook_test_rate_per_minute: int = 30
    webhook_lease_seconds: int = 60
    # Days to keep dispatched outbox events and finished deliveries (with their attempts);
    # 0 keeps them forever. Pending deliveries and undispatched events are never deleted.
    event_retention_days: float = Field(default=30, ge=0)
    delivery_retention_days: float = Field(default=30, ge=0)
    # Subscriptions on one key (repository, namespace, or none) and by one author, at most.
    webhook_max_per_key: int = Field(default=100, ge=1)
    webhook_max_per_user: int = Field(default=1000, ge=1)

    # Vulnerability scanning (scan on push, on demand, re-checks after a database import).
    scanning_enabled: bool = True
    # Largest vulnerability database archive PUT /api/v0/imagescan/scan/update accepts.
    scanning_max_upload_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1)
    # Reading one image layer for its inventory (dockyard/scanning/inventory.py: Limits): its tar
    # stream decompressed, its entries, one package database file, and the time the pass may take.
    scanning_layer_max_bytes: int = Field(default=10 * 1024**3, ge=1024)
    scanning_layer_max_entries: int = Field(default=1_000_000, ge=1)
    scanning_max_database_file_bytes: int = Field(default=16 * 1024**2, ge=1024)
    scanning_layer_max_seconds: float = Field(default=300.0, gt=0)
    # Vulnerability database imports (dockyard/scanning/vulndb.py): one JSON entry of an OSV
    # bundle at most (larger ones are skipped and counted), and entries (and records) of one
    # bundle at most (more: the import fails and the current database stays).
    scanning_osv_max_record_bytes: int = Field(default=4 * 1024**2, ge=1024)
    scanning_osv_max_records: int = Field(default=2_000_000, ge=1)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'dockyard.db').resolve()}"

    @property
    def registry_host(self) -> str:
        """The host part image names carry, e.g. `registry.example.com` or `127.0.0.1:5000`."""
        if self.external_url:
            url = self.external_url
            for prefix in ("https://", "http://"):
                if url.startswith(prefix):
                    url = url[len(prefix) :]
            return url.rstrip("/")
        return f"{self.host}:{self.port}"

    @property
    def retry_schedule(self) -> list[float]:
        return [float(part) for part in self.webhook_retry_schedule.split(",") if part.strip()]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags (init) beat the environment, which beats the file given with --config.
        return (init_settings, env_settings, _YamlSource(settings_cls))


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by the (internal) DOCKYARD_CONFIG_FILE variable, if any."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        import os

        path = os.environ.get("DOCKYARD_CONFIG_FILE")
        if not path:
            return {}
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: the configuration file must hold a mapping")
        return {str(k).lower().removeprefix("dockyard_"): v for k, v in loaded.items()}


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    import os

    if config_file is not None:
        os.environ["DOCKYARD_CONFIG_FILE"] = str(config_file)
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)


def settings_to_env(settings: Settings) -> dict[str, str]:
    """Serialise settings so worker processes started by the ASGI server rebuild the same ones."""
    return {"DOCKYARD_SETTINGS_JSON": json.dumps(settings.model_dump(mode="json"))}


def settings_from_env() -> Settings:
    import os

    raw = os.environ.get("DOCKYARD_SETTINGS_JSON")
    if raw:
        return Settings.model_validate(json.loads(raw))
    return Settings()
