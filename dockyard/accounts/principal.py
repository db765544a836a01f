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
    # A registry bearer token limits what its holder may do to the repositories it names:
    # ((repository "ns/name", granted actions), ...). None means unrestricted (password or
    # API token), so the account's own permissions apply in full.
    scopes: tuple[tuple[str, frozenset[str]], ...] | None = None

    def actions_for(self, repository: str) -> frozenset[str] | None:
        """The actions a bearer token grants on `repository`; None when there is no token limit."""
        if self.scopes is None:
            return None
        granted: set[str] = set()
        for name, actions in self.scopes:
            if name == repository:
                granted |= actions
        return frozenset(granted)
