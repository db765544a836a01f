"""The UI's pure pieces: the signing key on first start, CSRF comparison, safe redirects."""

from __future__ import annotations

import stat
from pathlib import Path

from dockyard.config import Settings
from dockyard.ui.routes import _safe_next
from dockyard.ui.session import SessionData, csrf_matches, load_secret_key


def test_secret_key_is_generated_once_into_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = load_secret_key(settings)
    assert len(first) >= 40
    path = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret_key(settings) == first  # a restart keeps sessions valid


def test_configured_secret_key_wins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="configured")
    assert load_secret_key(settings) == "configured"
    assert not (tmp_path / "secret_key").exists()


def test_csrf_token_must_match_the_session() -> None:
    data = SessionData(csrf="token-a", token="session-token")
    assert csrf_matches(data, "token-a")
    assert not csrf_matches(data, "token-b")
    assert not csrf_matches(data, "")
    assert not csrf_matches(data, None)
    assert not csrf_matches(None, "token-a")


def test_only_local_paths_are_followed_after_sign_in() -> None:
    assert _safe_next("/repositories/a/b") == "/repositories/a/b"
    for bad in ("https://evil.example/", "//evil.example/x", "/\\evil", "", None, "repos"):
        assert _safe_next(bad) == "/repositories"
