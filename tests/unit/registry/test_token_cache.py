"""Registry bearer tokens are verified once per token string and cached only until `exp`."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.auth import tokens
from dockyard.auth.tokens import InvalidToken, issue_token, load_or_create_key, verify_token


def test_verified_tokens_are_cached_only_until_they_expire(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = load_or_create_key(tmp_path)
    token, _ttl, issued = issue_token(key, service="reg", subject="alice", access=[])
    calls: list[str] = []
    real = tokens._verify_uncached

    def counting(*args: object, **kwargs: object) -> dict[str, object]:
        calls.append("verify")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tokens, "_verify_uncached", counting)
    assert verify_token(key, token, service="reg")["sub"] == "alice"
    assert verify_token(key, token, service="reg")["sub"] == "alice"
    assert calls == ["verify"]  # the second check came from the cache
    with pytest.raises(InvalidToken):  # another audience is never served from the cache
        verify_token(key, token, service="elsewhere")

    # Past `exp` the cache no longer answers: the token is verified again (and refused).
    monkeypatch.setattr(tokens.time, "time", lambda: issued + tokens.TOKEN_TTL_SECONDS + 1)

    def refuse(*_args: object, **_kwargs: object) -> dict[str, object]:
        raise InvalidToken("expired")

    monkeypatch.setattr(tokens, "_verify_uncached", refuse)
    with pytest.raises(InvalidToken):
        verify_token(key, token, service="reg")


def test_failures_are_not_cached(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path)
    for _ in range(2):
        with pytest.raises(InvalidToken):
            verify_token(key, "not-a-jwt", service="reg")
    assert (key.kid, "reg", "not-a-jwt") not in tokens._verified
