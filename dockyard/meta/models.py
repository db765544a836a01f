"""The table of registry settings changed at run time (`POST /api/v0/meta/settings`): one row
per setting that has been set, its value as JSON. A setting without a row has its configured
value (defaults < YAML file < DOCKYARD_* environment). No HTTP here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.clock import utcnow
from dockyard.db.base import Base
from dockyard.db.types import UTCDateTime


class RegistrySetting(Base):
    """One setting set through the API, by MSR's name (`createRepositoryOnPush`, ...)."""

    __tablename__ = "registry_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The admin who set it last (an account name; kept when the account goes).
    updated_by: Mapped[str] = mapped_column(String(255), default="")
