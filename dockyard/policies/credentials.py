"""Remote registries' credentials, encrypted at rest with Fernet (`cryptography`).

The key is `DOCKYARD_POLICY_SECRET_KEY`, or one generated once into the data folder
(`policy_secret_key`, mode 0600, shared by every process): `kit.sealing`'s, which webhook client
certificates are sealed with too. Credentials are never returned by
the API and never logged: `Credentials.__repr__` hides the secret, and a token that cannot be
decrypted raises `CredentialsError` without its content.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken

from dockyard.config import Settings
from dockyard.kit.sealing import KEY_FILE, load_key
from dockyard.policies.ociauth import Credentials

__all__ = ["KEY_FILE", "CredentialsError", "Vault", "load_key"]


class CredentialsError(Exception):
    """Stored credentials could not be decrypted (another key?)."""


class Vault:
    """Encrypts and decrypts credentials with one key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        return cls(load_key(settings))

    def encrypt(self, credentials: Credentials) -> str:
        raw = {
            "username": credentials.username,
            "password": credentials.password,
            "authToken": credentials.auth_token,
        }
        return self._fernet.encrypt(json.dumps(raw).encode()).decode("ascii")

    def decrypt(self, token: str) -> Credentials:
        if not token:
            return Credentials()
        try:
            raw = json.loads(self._fernet.decrypt(token.encode("ascii")))
        except (InvalidToken, ValueError, UnicodeError):
            raise CredentialsError(
                "the stored credentials cannot be decrypted (was the policy secret key changed?)"
            ) from None
        return Credentials(
            username=str(raw.get("username", "")),
            password=str(raw.get("password", "")),
            auth_token=str(raw.get("authToken", "")),
        )

    def __repr__(self) -> str:
        return "Vault()"
