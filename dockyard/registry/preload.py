"""One plain SELECT for what a read needs: the repository, its namespace account and the
manifest (a manifest GET), the blob's size (a blob GET/HEAD, the HEAD a push makes per layer)
or the upload session (each request of a chunked upload); for a manifest GET also whether a
pull subscription could consume its events.

Reads are the hot paths and ORM loading costs more than the query: on SQLite `fetch_one` runs
on the event loop with a per-process connection (no thread hop). A manifest GET gets plain
values (`PullRow`) and decides access from them when it can (`registry.access.settled_access`),
with no session at all. Otherwise the repository and its namespace are handed to the caller's
session as if loaded, so `open_repository` (and `auth.access.repository_access` under it)
decides without another round trip.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from dockyard.accounts.models import Account
from dockyard.db.engine import fetch_one
from dockyard.repos.models import Repository
from dockyard.services import Services

_REPOSITORY = (
    "SELECT r.id, r.namespace_id, r.visibility, a.is_org, {extra} FROM repositories r "
    "JOIN accounts a ON a.id = r.namespace_id "
)
_WHERE = "WHERE r.namespace = :ns AND r.name = :name"
_MANIFEST = "m.digest, m.media_type, m.size, m.os, m.architecture"
# Whether a live TAG_PULL/MANIFEST_PULL subscription could match a pull here: keyed on the
# repository, its namespace or nothing (global), the keys `webhooks.dispatch` matches an event
# by. A superset of what dispatch delivers to (it also drops subscriptions whose author lost
# access, and tag filters): recording a pull nobody receives is harmless, missing one is not.
# Answered by ix_webhook_subscriptions_match (event_type, key, inactive), a covering index.
_PULL_SUBSCRIBED = (
    "EXISTS (SELECT 1 FROM webhook_subscriptions s "
    "WHERE s.event_type IN ('TAG_PULL', 'MANIFEST_PULL') AND s.key IN ('', :ns, :full) "
    "AND s.inactive = :inactive)"
)
_PULL_COLUMNS = f"m.digest, m.media_type, m.size, m.os, m.architecture, {_PULL_SUBSCRIBED}"
_PULL_BY_TAG = (
    _REPOSITORY.format(extra=_PULL_COLUMNS)
    + "LEFT JOIN tags t ON t.repository_id = r.id AND t.name = :ref "
    "LEFT JOIN manifests m ON m.repository_id = r.id AND m.digest = t.digest " + _WHERE
)
_PULL_BY_DIGEST = (
    _REPOSITORY.format(extra=_PULL_COLUMNS)
    + "LEFT JOIN manifests m ON m.repository_id = r.id AND m.digest = :ref "
    + _WHERE
)
_BLOB = (
    _REPOSITORY.format(extra="b.size")
    + "LEFT JOIN repository_blobs rb ON rb.repository_id = r.id AND rb.digest = :ref "
    "LEFT JOIN blobs b ON b.digest = rb.digest " + _WHERE
)


def _unattached(
    session: AsyncSession, namespace: str, name: str, row: tuple[object, ...]
) -> Repository:
    """The repository and its namespace account (in `session.info["namespace_account"]`) as
    new objects, not yet in the session: `registry.access.open_repository` decides from them
    when it can, and only otherwise adds them to the session (`adopt`)."""
    repo_id, namespace_id, visibility, is_org = row[:4]
    account = Account(id=namespace_id, name=namespace, is_org=bool(is_org))
    repo = Repository(
        id=repo_id, namespace_id=namespace_id, namespace=namespace, name=name, visibility=visibility
    )
    # Also what keeps the account alive: the identity map holds objects weakly.
    session.info["namespace_account"] = account
    return repo


def adopt(session: AsyncSession, repository: Repository) -> None:
    """`repository` and its namespace account (from `_unattached`) join `session` as if loaded
    there, so `auth.access.repository_access` finds both without a round trip."""
    account = session.info.get("namespace_account")
    for loaded in (account, repository):
        if loaded is None or loaded in session:
            continue
        if inspect(loaded).transient:
            make_transient_to_detached(loaded)
        session.add(loaded)


def _attach(
    session: AsyncSession, namespace: str, name: str, row: tuple[object, ...]
) -> Repository:
    repo = _unattached(session, namespace, name, row)
    adopt(session, repo)
    return repo


class PullRow(NamedTuple):
    """What a manifest GET needs, as plain values: no ORM object is built for a pull."""

    repository_id: str
    namespace_id: str
    visibility: str
    namespace_is_org: bool
    digest: str | None  # None: no such manifest in the repository
    media_type: str
    size: int
    os: str
    architecture: str
    pull_subscribed: bool  # a live pull subscription could match (see _PULL_SUBSCRIBED)


async def load_for_pull(
    services: Services, namespace: str, name: str, reference: str
) -> PullRow | None:
    """The repository `namespace/name` and the manifest `reference` (a tag, or a digest when it
    holds a ':') names in it; None when there is no such repository."""
    sql = _PULL_BY_DIGEST if ":" in reference else _PULL_BY_TAG
    params = {
        "ref": reference,
        "ns": namespace,
        "name": name,
        "full": f"{namespace}/{name}",
        "inactive": False,
    }
    row = await fetch_one(services.engine, sql, params)
    if row is None:
        return None
    repo_id, namespace_id, visibility, is_org, digest, media_type, size, os_name, arch, sub = row
    return PullRow(
        repo_id,
        namespace_id,
        visibility,
        bool(is_org),
        digest,
        media_type or "",
        int(size or 0),
        os_name or "",
        arch or "",
        bool(sub),
    )


def attach_pulled(session: AsyncSession, namespace: str, name: str, pull: PullRow) -> Repository:
    """The pulled repository (and its namespace account) in `session`, as if loaded there: the
    access check that needs more facts (an organization's teams) takes it from here."""
    return _attach(
        session,
        namespace,
        name,
        (pull.repository_id, pull.namespace_id, pull.visibility, pull.namespace_is_org),
    )


async def load_blob(
    services: Services, session: AsyncSession, namespace: str, name: str, digest: str
) -> tuple[Repository | None, int | None]:
    """The repository (None: no such repository) and the size of blob `digest` when it is
    linked to it (None: not visible there)."""
    row = await fetch_one(services.engine, _BLOB, {"ref": digest, "ns": namespace, "name": name})
    if row is None:
        return None, None
    # Not yet in the session: a read the row settles needs none (`open_repository`).
    repo = _unattached(session, namespace, name, row)
    size = row[4]
    return repo, None if size is None else int(size)


_ONLY_REPOSITORY = _REPOSITORY.format(extra="NULL") + _WHERE
_UPLOAD = (
    _REPOSITORY.format(extra="u.id")
    + "LEFT JOIN uploads u ON u.repository_id = r.id AND u.id = :ref "
    + _WHERE
)


async def load_repository(
    services: Services, session: AsyncSession, namespace: str, name: str
) -> Repository | None:
    """The repository (None: no such repository), as an upload's POST needs it."""
    row = await fetch_one(services.engine, _ONLY_REPOSITORY, {"ns": namespace, "name": name})
    return None if row is None else _attach(session, namespace, name, row)


async def load_upload(
    services: Services, session: AsyncSession, namespace: str, name: str, upload_id: str
) -> tuple[Repository | None, bool]:
    """The repository (None: no such repository) and whether upload `upload_id` is one of its
    sessions, as each PATCH, PUT and status GET of a chunked upload needs them."""
    params = {"ref": upload_id, "ns": namespace, "name": name}
    row = await fetch_one(services.engine, _UPLOAD, params)
    if row is None:
        return None, False
    return _attach(session, namespace, name, row), row[4] is not None
