"""No route commits or wakes the event consumers by hand: a source scan of the registry and of
every route module in the package.

The unit of work (`api/uow.py`) commits, and `events.bus` wakes the consumers after a commit
that recorded events. The one exception is the registry's pull recorder (`registry/pulls.py`),
a background writer over a plain connection, which has no session for the hook to see.
"""

from __future__ import annotations

import ast
from pathlib import Path

import dockyard

PACKAGE = Path(dockyard.__file__).parent
# (module relative to the package, what, enclosing class) allowed: the pull recorder's wake-up.
ALLOWED = {
    ("registry/pulls.py", "import notify_committed", None),
    ("registry/pulls.py", "notify_committed()", "PullRecorder"),
}


def _scanned() -> list[Path]:
    registry = set((PACKAGE / "registry").rglob("*.py"))
    routes = {
        path
        for path in PACKAGE.rglob("*.py")
        if path.name == "routes.py" or path.name.endswith("_routes.py")
    }
    return sorted(registry | routes)


def _offences(source: str) -> list[tuple[int, str, str | None]]:
    """(line, what, enclosing class) for each hand commit or wake-up in `source`."""
    found: list[tuple[int, str, str | None]] = []

    def visit(node: ast.AST, owner: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.ClassDef) else owner
            if isinstance(child, ast.Call):
                func = child.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name == "notify_committed" or (
                    name == "commit" and isinstance(func, ast.Attribute)
                ):
                    found.append((child.lineno, f"{name}()", owner))
            if isinstance(child, ast.ImportFrom) and any(
                alias.name == "notify_committed" for alias in child.names
            ):
                found.append((child.lineno, "import notify_committed", owner))
            visit(child, inner)

    visit(ast.parse(source), None)
    return found


def test_the_scan_sees_what_it_looks_for() -> None:
    source = (
        "from dockyard.events.bus import notify_committed\n"
        "async def handler(session):\n"
        "    await session.commit()\n"
        "    notify_committed()\n"
        "    await storage.upload_commit('id', 'digest')\n"
        "class PullRecorder:\n"
        "    def drain(self):\n"
        "        bus.notify_committed()\n"
    )
    assert _offences(source) == [
        (1, "import notify_committed", None),
        (3, "commit()", None),
        (4, "notify_committed()", None),
        (8, "notify_committed()", "PullRecorder"),
    ]


def test_the_scan_covers_the_registry_and_every_route_module() -> None:
    names = {path.relative_to(PACKAGE).as_posix() for path in _scanned()}
    assert {"registry/manifests.py", "registry/uploads.py", "registry/access.py"} <= names
    assert {"repos/routes.py", "webhooks/routes.py", "accounts/team_routes.py"} <= names


def test_no_route_commits_or_wakes_by_hand() -> None:
    offences = []
    for path in _scanned():
        module = path.relative_to(PACKAGE).as_posix()
        for line, what, owner in _offences(path.read_text()):
            if (module, what, owner) not in ALLOWED:
                offences.append(f"{module}:{line}: {what}")
    assert offences == [], "use the unit of work (dockyard/api/uow.py): " + ", ".join(offences)
