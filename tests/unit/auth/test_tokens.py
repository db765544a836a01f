"""Registry bearer tokens: scopes parse, tokens verify only when genuine, levels cap access."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import jwt
import pytest

from dockyard.accounts.principal import Principal
from dockyard.auth.tokens import (
    KEY_FILE,
    InvalidToken,
    Scope,
    actions_for_level,
    issue_token,
    load_or_create_key,
    parse_scope,
    scopes_from_claims,
    verify_token,
)
from dockyard.rules.permissions import AccessLevel, level_cap


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("repository:ns/repo:pull", Scope("repository", "ns/repo", frozenset({"pull"}))),
        (
            "repository:ns/repo:pull,push",
            Scope("repository", "ns/repo", frozenset({"pull", "push"})),
        ),
        (
            "repository:host:5000/ns/repo:pull",
            Scope("repository", "host:5000/ns/repo", frozenset({"pull"})),
        ),
        ("registry:catalog:*", Scope("registry", "catalog", frozenset({"*"}))),
        ("repository:ns/repo:", Scope("repository", "ns/repo", frozenset())),
        ("nonsense", None),
        ("repository:", None),
        ("blob:ns/repo:pull", None),
    ],
)
def test_parse_scope(raw: str, expected: Scope | None) -> None:
    assert parse_scope(raw) == expected


def test_levels_and_actions_round_trip() -> None:
    assert actions_for_level(AccessLevel.NONE) == frozenset()
    assert actions_for_level(AccessLevel.READ_ONLY) == {"pull"}
    assert actions_for_level(AccessLevel.READ_WRITE) == {"pull", "push", "delete"}
    assert "*" in actions_for_level(AccessLevel.ADMIN)
    for level in AccessLevel:
        assert level_cap(actions_for_level(level)) == level
    assert level_cap(frozenset({"delete"})) == AccessLevel.READ_WRITE


def test_key_is_created_once_private_and_reused(tmp_path: Path) -> None:
    first = load_or_create_key(tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / KEY_FILE).st_mode)
    assert mode == 0o600
    second = load_or_create_key(tmp_path)
    assert first.kid == second.kid
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]


def test_issue_and_verify(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path)
    scope = Scope("repository", "acme/app", frozenset({"pull", "push"}))
    token, expires_in, _ = issue_token(
        key, service="reg:5000", subject="alice", access=[scope], extra={"account_id": "a1"}
    )
    assert expires_in > 0
    claims = verify_token(key, token, service="reg:5000")
    assert claims["sub"] == "alice"
    assert claims["account_id"] == "a1"
    assert scopes_from_claims(claims) == (("acme/app", frozenset({"pull", "push"})),)
    assert jwt.get_unverified_header(token)["alg"] == "ES256"


def test_verify_refuses_wrong_service_expired_forged_and_garbage(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "a")
    other = load_or_create_key(tmp_path / "b")
    token, _, _ = issue_token(key, service="reg", subject="alice", access=[])
    with pytest.raises(InvalidToken):
        verify_token(key, token, service="elsewhere")
    with pytest.raises(InvalidToken):
        verify_token(other, token, service="reg")
    old, _, _ = issue_token(key, service="reg", subject="alice", access=[], now=1_000_000)
    with pytest.raises(InvalidToken):
        verify_token(key, old, service="reg")
    with pytest.raises(InvalidToken):
        verify_token(key, "not-a-jwt", service="reg")
    unsigned = jwt.encode(
        {"sub": "admin", "aud": "reg", "iss": "dockyard", "exp": 9999999999, "iat": 1},
        key="",
        algorithm="none",
    )
    with pytest.raises(InvalidToken):
        verify_token(key, unsigned, service="reg")


def test_principal_actions_for() -> None:
    plain = Principal("id", "alice", False)
    assert plain.actions_for("acme/app") is None
    scoped = Principal(
        "id",
        "alice",
        False,
        scopes=(("acme/app", frozenset({"pull"})), ("acme/app", frozenset({"push"}))),
    )
    assert scoped.actions_for("acme/app") == {"pull", "push"}
    assert scoped.actions_for("acme/other") == frozenset()
