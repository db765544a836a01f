"""Registry authentication helpers: the `WWW-Authenticate` challenge and the credentials.

Pure: no I/O. The OCI client (`ociclient.py`) uses these for Basic, token-as-password and the
Docker token flow (a 401 with `Bearer realm=...,service=...,scope=...`).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

_PARAM = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic", lower case
    params: dict[str, str]

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")

    @property
    def scope(self) -> str:
        return self.params.get("scope", "")

    @property
    def error(self) -> str:
        return self.params.get("error", "")


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a `WWW-Authenticate` header; None when there is none."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if match is None or match.end() == pos:
            break
        value = match.group(2)
        value = re.sub(r"\\(.)", r"\1", value) if value is not None else match.group(3) or ""
        params[match.group(1).lower()] = value
        pos = match.end()
    return Challenge(scheme.lower(), params)


@dataclass(frozen=True)
class Credentials:
    """Username and password, or a token (sent as the password, with the username if any)."""

    username: str = ""
    password: str = ""
    auth_token: str = ""

    @property
    def secret(self) -> str:
        return self.auth_token or self.password

    def basic(self) -> str | None:
        """The `Authorization: Basic ...` value, or None for anonymous access."""
        if not self.username and not self.secret:
            return None
        raw = f"{self.username}:{self.secret}".encode("utf-8", "replace")
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def __repr__(self) -> str:  # never shows the secret
        return f"Credentials(username={self.username!r})"


def scope_for(repo: str, actions: str) -> str:
    return f"repository:{repo}:{actions}"
