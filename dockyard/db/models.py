"""Imports every feature's models so that the metadata is complete (for Alembic and create_all).

This is assembly, like app.py: it may import upward; nothing else should import it but
migrations and tests.
"""

from dockyard.accounts import models as accounts_models
from dockyard.db import shared_limits as db_shared_limits
from dockyard.db import shared_secrets as db_shared_secrets
from dockyard.db.base import Base
from dockyard.events import models as events_models
from dockyard.meta import models as meta_models
from dockyard.policies import mirror_models as policies_mirror_models
from dockyard.policies import models as policies_models
from dockyard.policies import pruning_models as policies_pruning_models
from dockyard.replicas import models as replicas_models
from dockyard.repos import models as repos_models
from dockyard.scanning import models as scanning_models
from dockyard.scanning import vulndb_models as scanning_vulndb_models
from dockyard.storage import s3_models as storage_s3_models
from dockyard.webhooks import models as webhooks_models

__all__ = [
    "Base",
    "accounts_models",
    "db_shared_limits",
    "db_shared_secrets",
    "events_models",
    "meta_models",
    "policies_mirror_models",
    "policies_models",
    "policies_pruning_models",
    "replicas_models",
    "repos_models",
    "scanning_models",
    "scanning_vulndb_models",
    "storage_s3_models",
    "webhooks_models",
]
