"""os-release (`etc/os-release`, `usr/lib/os-release`): shell-style `KEY=value` lines."""

from __future__ import annotations

import shlex

MAX_VALUE_CHARS = 256


def parse(data: bytes) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        key, sep, raw = line.partition("=")
        if not sep or line.startswith("#") or not key.isidentifier():
            continue
        try:
            words = shlex.split(raw, comments=True)
            value = " ".join(words)
        except ValueError:
            value = raw.strip().strip("\"'")
        found[key] = value[:MAX_VALUE_CHARS]
    return found
