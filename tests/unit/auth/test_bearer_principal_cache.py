"""The /v2 bearer resolver builds a token's principal once and serves it until the token's
`exp`, never after; a token signed by another key or for another service is never served from
it."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from dockyard.auth import deps
from dockyard.auth.tokens import Scope, SigningKey, issue_token, load_or_create_key
from dockyard.errors import DockyardError


def _request(key: SigningKey, token: str) -> Request:
    app = SimpleNamespace(state=SimpleNamespace(registry_signing_key=key))
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/v2/",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
        "app": app,
    }
    return Request(scope)


def _resolve(key: SigningKey, token: str, service: str = "reg") -> Any:
    services = SimpleNamespace(registry_host=service)
    return asyncio.run(deps.bearer_resolver(_request(key, token), services))  # type: ignore[arg-type]


def test_a_token_principal_is_cached_until_exp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = load_or_create_key(tmp_path / "a")
    scope = Scope("repository", "alice/app", frozenset({"pull"}))
    token, _ttl, issued = issue_token(
        key, service="reg", subject="alice", access=[scope], extra={"account_id": "id-a"}
    )
    calls: list[str] = []
    real = deps.verify_token

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append("verify")
        return real(*args, **kwargs)

    monkeypatch.setattr(deps, "verify_token", counting)
    first = _resolve(key, token)
    assert first.name == "alice" and first.account_id == "id-a"
    assert first.actions_for("alice/app") == frozenset({"pull"})
    assert _resolve(key, token) is first
    assert calls == ["verify"]

    # Another service, another key: verified (and refused), never answered from the cache.
    with pytest.raises(DockyardError):
        _resolve(key, token, service="elsewhere")
    with pytest.raises(DockyardError):
        _resolve(load_or_create_key(tmp_path / "b"), token)
    assert calls == ["verify"] * 3

    # At `exp` the cache no longer answers: the token is verified again, and refused.
    monkeypatch.setattr(deps.time, "time", lambda: float(issued + 300))

    def refuse(*_args: Any, **_kwargs: Any) -> dict[str, Any]:
        calls.append("refused")
        raise deps.InvalidToken("expired")

    monkeypatch.setattr(deps, "verify_token", refuse)
    with pytest.raises(DockyardError):
        _resolve(key, token)
    assert calls[-1] == "refused"


def test_the_least_recently_used_token_leaves_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = load_or_create_key(tmp_path)
    monkeypatch.setattr(deps, "_BEARER_PRINCIPALS_MAX", 2)
    monkeypatch.setattr(deps, "_BEARER_PRINCIPALS", OrderedDict())
    tokens = [issue_token(key, service="reg", subject=f"u{i}", access=[])[0] for i in range(3)]
    verified: list[str] = []
    real = deps.verify_token

    def counting(key: SigningKey, token: str, *, service: str) -> dict[str, Any]:
        claims = real(key, token, service=service)
        verified.append(str(claims["sub"]))
        return claims

    monkeypatch.setattr(deps, "verify_token", counting)
    _resolve(key, tokens[0])
    _resolve(key, tokens[1])
    _resolve(key, tokens[0])  # used again: u1 is now the least recent
    _resolve(key, tokens[2])  # evicts u1
    _resolve(key, tokens[0])
    _resolve(key, tokens[1])
    assert verified == ["u0", "u1", "u2", "u1"]
