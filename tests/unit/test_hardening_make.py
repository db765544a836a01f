"""`make run` installs what running needs, not the test tools (pytest, mypy, playwright, ...);
the test targets still install them. Read from make's own plan (`make -n`), for a fresh venv."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make_n(*args: str) -> list[str]:
    """make's plan, as a top-level make prints it: under `make test` (CI) the inherited
    MAKELEVEL/MAKEFLAGS would add "Entering/Leaving directory" lines."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    return done.stdout.splitlines()


def plan(target: str, venv: Path) -> list[str]:
    return make_n("-B", target, f"VENV={venv}")


def installs(lines: list[str]) -> list[str]:
    return [line for line in lines if "pip install" in line and "--upgrade pip" not in line]


def test_make_run_installs_only_the_package(tmp_path: Path) -> None:
    lines = plan("run", tmp_path / "venv")
    assert [line.split("pip install", 1)[1].split() for line in installs(lines)] == [
        ["--quiet", "-e", "."]
    ]
    assert lines[-1].split()[-1:] == ["serve"]


def test_make_run_passes_flags_to_serve(tmp_path: Path) -> None:
    lines = make_n("run", f"VENV={tmp_path / 'venv'}", "ARGS=--port 5001")
    assert lines[-1].endswith("dockyard serve --port 5001")


@pytest.mark.parametrize("target", ["lint", "test-sqlite", "test-postgres", "test"])
def test_test_targets_install_the_test_extra(tmp_path: Path, target: str) -> None:
    assert any('-e ".[test]"' in line for line in installs(plan(target, tmp_path / "venv")))
