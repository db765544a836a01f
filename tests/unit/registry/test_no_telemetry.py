"""The applications do not ask OpenTelemetry for its providers on each request: dockyard
configures none, and FastAPI's native check (environment lookups) cost a sixth of a worker's
CPU under a manifest GET load."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import metrics, trace

from tests.fakes.inprocess import inprocess_app


def test_requests_do_not_look_for_telemetry_providers(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    real_tracer, real_meter = trace.get_tracer_provider, metrics.get_meter_provider

    def tracer() -> Any:
        asked.append("tracer")
        return real_tracer()

    def meter() -> Any:
        asked.append("meter")
        return real_meter()

    monkeypatch.setattr(trace, "get_tracer_provider", tracer)
    monkeypatch.setattr(metrics, "get_meter_provider", meter)

    async def scenario() -> list[int]:
        async with inprocess_app(tmp_path / "data", database_url) as running:
            statuses = []
            for path in ("/v2/", "/v2/admin/none/manifests/latest", "/api/v0/repositories"):
                statuses.append((await running.client.get(path)).status_code)
            return statuses

    statuses = asyncio.run(scenario())
    assert statuses == [200, 404, 200]  # the requests were served ...
    assert asked == []  # ... without asking for a provider


def test_the_check_would_see_a_request_asking() -> None:
    """Without the setting, FastAPI asks for the providers on every request (so the test above
    can fail)."""
    from fastapi import FastAPI

    app = FastAPI()
    asked = []
    original = trace.get_tracer_provider
    try:
        trace.get_tracer_provider = lambda: asked.append(1) or original()  # type: ignore[assignment,func-returns-value]
        app._native_telemetry.enabled()
    finally:
        trace.get_tracer_provider = original  # type: ignore[assignment]
    assert asked
