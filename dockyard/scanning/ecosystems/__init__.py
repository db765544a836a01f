"""Package databases by path: which files one layer's pass reads, and how each is parsed.

Each parser takes the file's path, its bytes (at most `Limits.max_file_bytes`) and the layer's
digest, and returns the packages the file lists, never raising on content it cannot read.
"""

from __future__ import annotations

from collections.abc import Callable

from dockyard.scanning.ecosystems import apk, dpkg, npm, python
from dockyard.scanning.packages import Package

Parser = Callable[[str, bytes, str], list[Package]]
OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")
_MODULES = (dpkg, apk, python, npm)


def parser_for(path: str) -> Parser | None:
    """The parser for a package database file at `path`, None when it is not one."""
    for module in _MODULES:
        if module.matches(path):
            parse: Parser = module.parse
            return parse
    return None


def is_location(path: str) -> bool:
    """Whether an entry at `path` that is not a readable database file hides one of a lower
    layer: a symbolic link, or a file where a package's directory was, replaces it and all below.
    """
    return parser_for(path) is not None or any(module.is_location(path) for module in _MODULES)
