"""Who is making a request: an authenticated account, or nobody (anonymous)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    account_id: str
    name: str
    is_admin: bool
    # The hashed token when the request authenticated with an API token instead of a password.
    token_id: str | None = None
