"""The registry challenge parser, credentials and their encryption at rest."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from dockyard.config import Settings
from dockyard.policies.credentials import CredentialsError, Vault, load_key
from dockyard.policies.ociauth import Credentials, parse_challenge
from dockyard.policies.ocibits import RemoteError, normalize_url


def test_bearer_challenge() -> None:
    c = parse_challenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:a/b:pull,push"'
    )
    assert c is not None and c.scheme == "bearer"
    assert (c.realm, c.service, c.scope) == (
        "https://auth.example.com/token",
        "registry.example.com",
        "repository:a/b:pull,push",
    )
    assert c.error == ""


def test_insufficient_scope_and_quoting() -> None:
    c = parse_challenge(
        'Bearer realm="http://x/t", error="insufficient_scope", scope="repository:a:push",'
        ' note="a \\"quoted\\" word"'
    )
    assert c is not None
    assert c.error == "insufficient_scope" and c.scope == "repository:a:push"
    assert c.params["note"] == 'a "quoted" word'


def test_basic_and_empty_challenges() -> None:
    basic = parse_challenge('Basic realm="Registry Realm"')
    assert basic is not None and basic.scheme == "basic" and basic.realm == "Registry Realm"
    assert parse_challenge("") is None
    token_only = parse_challenge("Bearer realm=http://x/token,service=reg")
    assert token_only is not None and token_only.service == "reg"


def test_credentials_basic_and_secret_hidden() -> None:
    assert Credentials().basic() is None
    assert Credentials("u", "p").basic() == "Basic dTpw"
    # A token is sent as the password, and wins over a password.
    assert Credentials("u", "p", "t").basic() == "Basic dTp0"
    assert "pw-secret" not in repr(Credentials("user", "pw-secret"))


def test_normalize_url() -> None:
    assert normalize_url("reg.example.com:5000/") == "https://reg.example.com:5000"
    assert normalize_url("http://127.0.0.1:1/x") == "http://127.0.0.1:1"
    with pytest.raises(RemoteError):
        normalize_url("ftp://x")


def test_vault_round_trip_with_a_generated_key_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    vault = Vault.from_settings(settings)
    token = vault.encrypt(Credentials("alice", "s3cret", "tok"))
    assert "s3cret" not in token and "alice" not in token
    assert (tmp_path / "policy_secret_key").exists()
    again = Vault.from_settings(settings)  # the same key file is read back
    assert again.decrypt(token) == Credentials("alice", "s3cret", "tok")
    assert again.decrypt("") == Credentials()


def test_the_key_setting_wins_and_a_wrong_key_fails(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    settings = Settings(data_dir=tmp_path, policy_secret_key=key.decode())
    assert load_key(settings) == key
    assert not (tmp_path / "policy_secret_key").exists()
    token = Vault(key).encrypt(Credentials("bob", "pw"))
    with pytest.raises(CredentialsError, match="cannot be decrypted") as info:
        Vault(Fernet.generate_key()).decrypt(token)
    assert "pw" not in str(info.value)
    with pytest.raises(RuntimeError, match="not a Fernet key"):
        load_key(Settings(data_dir=tmp_path, policy_secret_key="short"))
