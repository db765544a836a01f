"""Secrets sealed at rest with Fernet (`cryptography`): one key for the whole registry.

The key is `DOCKYARD_POLICY_SECRET_KEY`, or one generated once into the data folder
(`policy_secret_key`, mode 0600, shared by every process). Remote registries' credentials
(`policies.credentials`) and webhook client certificates (`webhooks.client_certs`) are sealed
with it, so there is one key to keep and back up. A token that cannot be opened raises
`SealError` without its content.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from dockyard.config import Settings
from dockyard.kit.secretfile import read_or_create

KEY_FILE = "policy_secret_key"


class SealError(Exception):
    """A sealed token could not be opened (another key?)."""


def load_key(settings: Settings) -> bytes:
    return _load_key(str(settings.data_dir), settings.policy_secret_key)


def _load_key(data_dir: str, configured: str) -> bytes:
    if configured:
        key = configured.strip().encode()
    else:
        path = Path(data_dir) / KEY_FILE
        key = read_or_create(path, Fernet.generate_key).strip()
    try:
        Fernet(key)
    except ValueError:
        raise RuntimeError(
            "DOCKYARD_POLICY_SECRET_KEY (or the data folder's policy_secret_key) is not a "
            "Fernet key (urlsafe base64 of 32 bytes)"
        ) from None
    return key


def sealer_for(settings: Settings) -> Sealer:
    """The process's sealer for these settings, its key read once."""
    return _sealer(str(settings.data_dir), settings.policy_secret_key)


@lru_cache(maxsize=8)
def _sealer(data_dir: str, configured: str) -> Sealer:
    return Sealer(_load_key(data_dir, configured))


class Sealer:
    """Seals and opens text with one key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> Sealer:
        return cls(load_key(settings))

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError, UnicodeError):
            raise SealError(
                "a sealed secret cannot be opened (was the policy secret key changed?)"
            ) from None

    def __repr__(self) -> str:
        return "Sealer()"
