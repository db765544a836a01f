"""The keys every replica must share, resolved once by the CLI before the server starts.

Three keys sign or encrypt what one replica makes and another reads: the UI session cookie key
(`secret_key`), the registry token key (`registry_token_key`, ES256 PEM) and the key of remote
registries' credentials (`policy_secret_key`, Fernet). A key set in the settings wins. Else:

- `DOCKYARD_SECRET_KEY_FILE`: one secret (at least 32 bytes) from which each key is derived
  (HKDF-SHA256, one label per key), so every replica given the file has the same keys;
- PostgreSQL: the keys live in `shared_secrets`, created once by whichever replica starts first
  (a single node that becomes several keeps its data folder's keys: they seed the rows);
- SQLite (one node): the data folder's key files, as before.

The resolved keys reach the server's processes in its settings, like DOCKYARD_SECRET_KEY does.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dockyard.cli.common import fail
from dockyard.config import Settings
from dockyard.events.notify import is_postgres

# P-256's group order: a derived private value must lie in [1, n - 1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
MIN_FILE_SECRET_BYTES = 32


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _new_token_key() -> str:
    return _pem(ec.generate_private_key(ec.SECP256R1()))


# setting -> (the row's name and the data folder's file, a new key)
KEYS: dict[str, tuple[str, Callable[[], str]]] = {
    "secret_key": ("secret_key", lambda: secrets.token_urlsafe(48)),
    "registry_token_key": ("registry-token-key.pem", _new_token_key),
    "policy_secret_key": ("policy_secret_key", lambda: Fernet.generate_key().decode()),
}


def _hkdf(master: bytes, label: str, length: int) -> bytes:
    info = f"dockyard {label}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(master)


def derive_keys(master: bytes) -> dict[str, str]:
    """The three keys derived from one secret (the same secret gives the same keys)."""
    scalar = int.from_bytes(_hkdf(master, "registry token key", 48), "big")
    token_key = ec.derive_private_key(scalar % (_P256_ORDER - 1) + 1, ec.SECP256R1())
    return {
        "secret_key": base64.urlsafe_b64encode(_hkdf(master, "ui session key", 48)).decode(),
        "registry_token_key": _pem(token_key),
        "policy_secret_key": base64.urlsafe_b64encode(_hkdf(master, "policy key", 32)).decode(),
    }


def read_key_file(path: Path) -> bytes:
    master = path.read_bytes().strip()
    if len(master) < MIN_FILE_SECRET_BYTES:
        raise ValueError(
            f"{path} holds {len(master)} bytes; a secret key file needs at least "
            f"{MIN_FILE_SECRET_BYTES} (e.g. `openssl rand -base64 48`)"
        )
    return master


def _seed(data_dir: Path, filename: str, make: Callable[[], str]) -> Callable[[], str]:
    """A new row's value: the data folder's key when this node had one, else a new key."""

    def value() -> str:
        try:
            existing = (data_dir / filename).read_text().strip()
        except (FileNotFoundError, UnicodeDecodeError):
            existing = ""
        return existing or make()

    return value


async def keys_from_database(settings: Settings, wanted: list[str]) -> dict[str, str]:
    from dockyard.db.engine import create_engine, create_sessionmaker
    from dockyard.db.shared_secrets import get_or_create

    engine = create_engine(settings.resolved_database_url)
    try:
        found: dict[str, str] = {}
        async with create_sessionmaker(engine)() as session:
            for field in wanted:
                name, make = KEYS[field]
                seed = _seed(Path(settings.data_dir), name, make)
                found[field] = await get_or_create(session, name, seed)
        return found
    finally:
        await engine.dispose()


def apply_shared_keys(settings: Settings) -> Settings:
    """`settings` with every key not set resolved as the module says (unchanged on SQLite
    without a key file)."""
    wanted = [field for field in KEYS if not getattr(settings, field)]
    if not wanted:
        return settings
    if settings.secret_key_file:
        try:
            master = read_key_file(Path(settings.secret_key_file))
        except (OSError, ValueError) as exc:
            fail(f"DOCKYARD_SECRET_KEY_FILE: {exc}")
        derived = derive_keys(master)
        found = {field: derived[field] for field in wanted}
    elif is_postgres(settings.resolved_database_url):
        found = asyncio.run(keys_from_database(settings, wanted))
    else:
        return settings
    return settings.model_copy(update=found)
