"""The wire shapes of the delivery log's details and of replay (dockyard's extensions).

A delivery in the log says whether a replay made it; each attempt carries the request as it was
sent (the headers dockyard set and the body), next to the receiver's answer. The base shapes
(`DeliveryOut`, `DeliveryAttemptOut`) stay in `webhooks.schemas`; these extend them, so every
field those document keeps its meaning. No HTTP and no database here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dockyard.webhooks.checks import parse_time, require_object
from dockyard.webhooks.schemas import DeliveryAttemptOut, DeliveryOut


class SentRequest(BaseModel):
    """What one attempt sent: the headers dockyard set (the transport adds Host, User-Agent and
    Content-Length) and the body. Never a secret: `webhook-signature` is a MAC of the body."""

    headers: dict[str, str]
    body: str = Field(description="The body as sent (its first 64 KiB).")


class DeliveryAttemptLog(DeliveryAttemptOut):
    request: SentRequest | None = Field(
        None, description="The request as sent; null for attempts recorded before it was kept."
    )


class DeliveryLog(DeliveryOut):
    """A delivery with its attempts' requests, and whether a replay made it (dockyard)."""

    replay: bool = Field(
        False, description="true: made by POST /api/v0/webhooks/{id}/replay, not by dispatch."
    )
    attempts: list[DeliveryAttemptLog]  # type: ignore[assignment]


class ReplayRequest(BaseModel):
    """POST /api/v0/webhooks/{id}/replay: send again the events since a time (dockyard)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"since": "2024-01-01T00:00:00Z"}]})

    since: datetime = Field(
        description="RFC 3339 time with a zone, within the event retention period."
    )

    @model_validator(mode="before")
    @classmethod
    def _msr_checks(cls, data: Any) -> Any:
        return {"since": parse_time(require_object(data).get("since"), "since")}


class Replayed(BaseModel):
    """How many replay deliveries were queued; `more` when the cap stopped the replay early
    (call again with `nextSince`)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"queued": 12, "more": False, "nextSince": None}]}
    )

    queued: int = Field(description="New deliveries, due now, marked as replays.")
    more: bool = Field(description="true: more events match than one replay queues.")
    nextSince: str | None = Field(
        description="When `more`: the time of the first event not queued, to replay from."
    )
