"""Wire shapes of MSR's promotion API: promotion policies (create/update body and answer) and a
manual promotion (body and answer). Rules are parsed by `policies.rules` in the service so that a
bad rule answers 400 INVALID_PROMOTION_POLICY naming it. No HTTP, no database here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue

_RULE: dict[str, JsonValue] = {"field": "tag", "operator": "sw", "values": ["v"]}
_NO_CRITICAL: dict[str, JsonValue] = {
    "field": "vulnerability_critical",
    "operator": "eq",
    "values": ["0"],
}
_POLICY_IN: dict[str, JsonValue] = {
    "rules": [_RULE, _NO_CRITICAL],
    "targetRepository": "prod/app",
    "tagTemplate": "%n-%Y%m%d",
    "enabled": True,
}
_POLICY_OUT: dict[str, JsonValue] = {
    **_POLICY_IN,
    "id": "0b8d6c1e-2f4a-4e57-9c1d-3a5b7e9f1c24",
    "sourceRepository": "dev/app",
    "lastPromotedAt": "2026-11-30T21:00:00.000Z",
    "createdAt": "2026-11-30T20:00:00.000Z",
    "updatedAt": "2026-11-30T20:00:00.000Z",
}
_PROMOTION_IN: dict[str, JsonValue] = {"targetRepository": "prod/app", "targetTag": "v1.2"}
_PROMOTION_OUT: dict[str, JsonValue] = {
    "sourceRepository": "dev/app",
    "sourceTag": "v1.2",
    "targetRepository": "prod/app",
    "targetTag": "v1.2",
    "digest": "sha256:" + "ab" * 32,
    "promotedAt": "2026-11-30T21:00:00.000Z",
}


def _examples(*examples: JsonValue) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class PromotionPolicyIn(BaseModel):
    """Create or replace a promotion policy (all fields required, as in MSR)."""

    model_config = _examples(_POLICY_IN)

    rules: list[JsonValue] = Field(
        max_length=100, description='MSR rules: [{"field", "operator", "values": [string]}]'
    )
    targetRepository: str = Field(max_length=512, description='"namespace/repository"')
    tagTemplate: str = Field(
        max_length=255, description="%n is the promoted tag; MSR's date placeholders (%Y, %m…)"
    )
    enabled: bool


class PromotionPolicyOut(BaseModel):
    model_config = _examples(_POLICY_OUT)

    id: str
    rules: list[JsonValue]
    sourceRepository: str
    targetRepository: str
    tagTemplate: str
    enabled: bool
    lastPromotedAt: str | None
    createdAt: str
    updatedAt: str


class PromotionIn(BaseModel):
    """A manual promotion of one tag."""

    model_config = _examples(_PROMOTION_IN)

    targetRepository: str = Field(max_length=512)
    targetTag: str = Field(max_length=255)


class PromotionOut(BaseModel):
    model_config = _examples(_PROMOTION_OUT)

    sourceRepository: str
    sourceTag: str
    targetRepository: str
    targetTag: str
    digest: str
    promotedAt: str
