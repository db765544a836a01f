"""The house's size limits (issue 9): no module in `dockyard/` over 400 lines and no function or
method over 60 lines, counted from its `def` line to its last line.

Generated migrations (`dockyard/db/migrations/versions/`) are not counted: they are written once
and never read as code to carry on. Nothing here imports the package; it reads the files with `ast`.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "dockyard"
EXCLUDED = PACKAGE / "db" / "migrations" / "versions"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# Known to be over the module limit, each with its reason; nothing else may be.
KNOWN_LONG_MODULES: set[str] = set()


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if not p.is_relative_to(EXCLUDED))


def _name(path: Path) -> str:
    if path.is_relative_to(PACKAGE.parent):
        return path.relative_to(PACKAGE.parent).as_posix()
    return path.name


def long_modules(paths: list[Path]) -> list[str]:
    """Each module over the limit, as "path: N lines"."""
    found = []
    for path in paths:
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            found.append(f"{_name(path)}: {lines} lines")
    return found


def long_functions(paths: list[Path]) -> list[str]:
    """Each function or method (nested ones too) over the limit, as "path:line name: N lines"."""
    found = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                # `lineno` is the `def` line (decorators excluded), `end_lineno` its last line.
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{_name(path)}:{node.lineno} {node.name}: {length} lines")
    return found


def test_the_package_is_found() -> None:
    # Guards the two tests below against passing because they read nothing.
    names = {_name(p) for p in _modules()}
    assert "dockyard/app.py" in names
    assert not any(name.startswith("dockyard/db/migrations/versions/") for name in names)


def test_no_module_is_over_400_lines() -> None:
    over = [
        line for line in long_modules(_modules()) if line.split(":")[0] not in KNOWN_LONG_MODULES
    ]
    assert not over, "modules over 400 lines:\n" + "\n".join(over)


def test_known_long_modules_still_exist_and_are_long() -> None:
    # An exception that no longer applies must be removed, not left to hide a future regression.
    long = {line.split(":")[0] for line in long_modules(_modules())}
    stale = sorted(KNOWN_LONG_MODULES - long)
    assert not stale, "no longer over 400 lines, remove from KNOWN_LONG_MODULES: " + str(stale)


def test_no_function_is_over_60_lines() -> None:
    over = long_functions(_modules())
    assert not over, "functions over 60 lines:\n" + "\n".join(over)


def test_the_counters_see_what_is_too_long(tmp_path: Path) -> None:
    # A method of 61 lines (its `def` and 60 statements) in a module of 401 lines.
    lines = ["class C:", "    async def method(self) -> None:"]
    lines += [f"        x{i} = {i}" for i in range(60)]
    lines += [""] * (MAX_MODULE_LINES + 1 - len(lines))
    module = tmp_path / "long.py"
    module.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert long_functions([module]) == ["long.py:2 method: 61 lines"]
    assert long_modules([module]) == ["long.py: 401 lines"]
    # Exactly at the limits passes.
    short = tmp_path / "short.py"
    short.write_text("def f() -> None:\n" + "    pass\n" * 59, encoding="utf-8")
    assert long_functions([short]) == [] and long_modules([short]) == []
