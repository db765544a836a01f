"""Wire shapes of MSR's pruning API: a pruning policy (create/update body and answer) and the
answer of `POST …/pruningPolicies/test` (the tags a run would delete). Rules are parsed by
`policies.rules` in the service so that a bad rule answers 400 INVALID_PRUNING_POLICY naming it.
No HTTP, no database here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue

_RULE: dict[str, JsonValue] = {"field": "tag", "operator": "sw", "values": ["v"]}
_OLD: dict[str, JsonValue] = {
    "field": "updated_at",
    "operator": "bf",
    "values": ["2026-01-01T00:00:00Z"],
}
_POLICY_IN: dict[str, JsonValue] = {"rules": [_RULE, _OLD], "enabled": True}
_POLICY_OUT: dict[str, JsonValue] = {
    **_POLICY_IN,
    "id": "5f0c2b7a-8d3e-4c1a-9b6f-2e4d7a9c1b30",
    "repository": "dev/app",
    "lastPrunedAt": "2026-11-30T21:00:00.000Z",
    "createdAt": "2026-11-30T20:00:00.000Z",
    "updatedAt": "2026-11-30T20:00:00.000Z",
}
_TEST_IN: dict[str, JsonValue] = {"rules": [_RULE]}
_TAG_OUT: dict[str, JsonValue] = {"name": "v1.0", "digest": "sha256:" + "ab" * 32}


def _examples(*examples: JsonValue) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class PruningPolicyIn(BaseModel):
    """Create or replace a pruning policy (the Terraform provider sends both fields)."""

    model_config = _examples(_POLICY_IN)

    rules: list[JsonValue] = Field(
        max_length=100,
        description='MSR rules: [{"field", "operator", "values": [string]}]; at least one',
    )
    enabled: bool = True


class PruningPolicyOut(BaseModel):
    model_config = _examples(_POLICY_OUT)

    id: str
    repository: str
    rules: list[JsonValue]
    enabled: bool
    lastPrunedAt: str | None
    createdAt: str
    updatedAt: str


class PruningTestIn(BaseModel):
    """Rules to try against the repository's tags now (nothing is deleted)."""

    model_config = _examples(_TEST_IN)

    rules: list[JsonValue] = Field(max_length=100)
    enabled: bool = True


class PrunedTagOut(BaseModel):
    """A tag a pruning run would delete."""

    model_config = _examples(_TAG_OUT)

    name: str
    digest: str
