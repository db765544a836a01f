"""Settings precedence: defaults < YAML file < environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.config import Settings, load_settings, settings_from_env, settings_to_env


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # setenv (not delenv) so that monkeypatch also undoes what load_settings writes.
    for key in ("DOCKYARD_PORT", "DOCKYARD_HOST", "DOCKYARD_CONFIG_FILE", "DOCKYARD_EXTERNAL_URL"):
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)


def test_defaults() -> None:
    settings = Settings()
    assert settings.port == 5000
    assert settings.host == "127.0.0.1"
    assert settings.data_dir == Path("./dockyard-data")
    assert settings.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.registry_host == "127.0.0.1:5000"


def test_file_then_env_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "dockyard.yaml"
    config.write_text("port: 6000\nhost: 0.0.0.0\nDOCKYARD_LOG_LEVEL: debug\n")
    settings = load_settings(config)
    assert (settings.port, settings.host, settings.log_level) == (6000, "0.0.0.0", "debug")
    monkeypatch.setenv("DOCKYARD_PORT", "7000")
    assert load_settings(config).port == 7000
    assert load_settings(config, port=8000).port == 8000


def test_external_url_strips_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_EXTERNAL_URL", "https://registry.example.com/")
    assert Settings().registry_host == "registry.example.com"


def test_settings_round_trip_to_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(port=5123, webhook_retry_schedule="1,2")
    for key, value in settings_to_env(original).items():
        monkeypatch.setenv(key, value)
    rebuilt = settings_from_env()
    assert rebuilt.port == 5123
    assert rebuilt.retry_schedule == [1.0, 2.0]


def test_bad_config_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="mapping"):
        load_settings(config)
