"""The webhook test endpoint's limit: at most N test sends per account per minute, then 429
(RATE_LIMITED) with Retry-After. `limits` reads `time.time()`: the clock is patched."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dockyard.config import Settings
from dockyard.errors import DockyardError, ErrorCode
from dockyard.webhooks.runtime import WebhookRuntime


def test_test_sends_are_limited_per_account_per_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [3_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    runtime = WebhookRuntime(Settings(data_dir=tmp_path, webhook_test_rate_per_minute=2))
    runtime.check_rate("alice")
    now[0] += 10
    runtime.check_rate("alice")
    with pytest.raises(DockyardError) as refused:
        runtime.check_rate("alice")
    assert refused.value.code is ErrorCode.RATE_LIMITED
    assert refused.value.headers == {"Retry-After": "51"}
    runtime.check_rate("bob")  # another account has its own count
    now[0] += 51  # the first send has left the minute
    runtime.check_rate("alice")
