"""The number of HTTP workers follows the CPUs the server may run on, unless set."""

from __future__ import annotations

import os

import pytest

from dockyard import config
from dockyard.config import Settings


def test_workers_default_to_the_cpus_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_WORKERS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2}, raising=False)
    assert Settings().workers == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(200)), raising=False)
    assert Settings().workers == 64


def test_workers_fall_back_to_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_WORKERS", raising=False)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert config.default_workers() == 1


def test_workers_set_explicitly_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_WORKERS", "1")
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3}, raising=False)
    assert Settings().workers == 1
    assert Settings(workers=5).workers == 5
