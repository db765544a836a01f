"""Shared keys: derived from a key file, or created once in the database by the first replica."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from cryptography.fernet import Fernet

from dockyard.auth.tokens import Scope, issue_token, load_or_create_key, verify_token
from dockyard.cli.keys import apply_shared_keys, derive_keys, keys_from_database
from dockyard.config import Settings
from dockyard.db.migrate import upgrade
from tests.fakes.cluster import create_pg_database, drop_pg_database

MASTER = b"x" * 20 + b"a secret shared by every replica"


def test_one_key_file_gives_every_replica_the_same_keys(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(MASTER + b"\n")
    a = apply_shared_keys(Settings(data_dir=tmp_path / "a", secret_key_file=str(secret)))
    b = apply_shared_keys(Settings(data_dir=tmp_path / "b", secret_key_file=str(secret)))
    assert (a.secret_key, a.registry_token_key, a.policy_secret_key) == (
        b.secret_key,
        b.registry_token_key,
        b.policy_secret_key,
    )
    Fernet(a.policy_secret_key.encode())  # a valid Fernet key
    # A token signed with replica A's key verifies with replica B's.
    key_a = load_or_create_key(tmp_path / "a", a.registry_token_key)
    key_b = load_or_create_key(tmp_path / "b", b.registry_token_key)
    token, _, _ = issue_token(
        key_a, service="svc", subject="alice", access=[Scope("repository", "a/b", frozenset())]
    )
    assert verify_token(key_b, token, service="svc")["sub"] == "alice"
    assert not (tmp_path / "a" / "registry-token-key.pem").exists()


def test_keys_differ_by_secret_and_by_purpose() -> None:
    one, other = derive_keys(MASTER), derive_keys(MASTER + b"!")
    assert one["secret_key"] != other["secret_key"]
    assert one["registry_token_key"] != other["registry_token_key"]
    assert len({one["secret_key"], one["policy_secret_key"]}) == 2


def test_a_configured_key_wins_and_a_short_file_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(MASTER)
    settings = apply_shared_keys(
        Settings(data_dir=tmp_path, secret_key="mine", secret_key_file=str(secret))
    )
    assert settings.secret_key == "mine"
    assert settings.registry_token_key
    secret.write_bytes(b"short")
    with pytest.raises(typer.Exit):
        apply_shared_keys(Settings(data_dir=tmp_path, secret_key_file=str(secret)))


def test_sqlite_keeps_the_data_folder_keys(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert apply_shared_keys(settings) == settings


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = create_pg_database()
    yield url
    drop_pg_database(url)


def test_replicas_starting_at_once_store_one_set_of_keys(tmp_path: Path, pg_url: str) -> None:
    database_url = pg_url
    upgrade(database_url)
    # A node that ran alone before keeps its session key (its users stay signed in).
    old = tmp_path / "old"
    old.mkdir()
    (old / "secret_key").write_text("the-old-session-key\n")
    fields = ["secret_key", "registry_token_key", "policy_secret_key"]

    async def both() -> list[dict[str, str]]:
        return list(
            await asyncio.gather(
                keys_from_database(Settings(data_dir=old, database_url=database_url), fields),
                keys_from_database(
                    Settings(data_dir=tmp_path / "new", database_url=database_url), fields
                ),
            )
        )

    first, second = asyncio.run(both())
    assert first == second
    again = apply_shared_keys(Settings(data_dir=tmp_path / "third", database_url=database_url))
    assert again.registry_token_key == first["registry_token_key"]
    assert again.secret_key == first["secret_key"]


def test_replicas_migrating_an_empty_database_at_once_all_succeed(pg_url: str) -> None:
    # Processes, as replicas are (Alembic's context is one per process).
    code = "import sys; from dockyard.db.migrate import upgrade; upgrade(sys.argv[1])"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, pg_url], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    errors = [proc.communicate(timeout=120)[1].decode()[-2000:] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], errors
