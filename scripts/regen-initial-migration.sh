#!/usr/bin/env bash
# Regenerates the single initial migration from the models. Only valid while no release has
# shipped: once one has, add a new migration per schema change instead.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f dockyard/db/migrations/versions/0001_*.py
.venv/bin/python - "$tmp" <<'PY'
import sys
from alembic import command
from dockyard.db.migrate import alembic_config
cfg = alembic_config(f"sqlite+aiosqlite:///{sys.argv[1]}/gen.db")
command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001_initial")
PY
rm -rf "$tmp"
ls dockyard/db/migrations/versions/
