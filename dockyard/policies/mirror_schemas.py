"""Wire shapes of MSR's mirroring API: push and poll mirroring policies (create bodies and
answers), the generic mirroring policy list, a manual push mirroring and the poll_mirror job.
Passwords and tokens come in and never go out. No HTTP, no database here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

_RULE: dict[str, JsonValue] = {"field": "tag", "operator": "sw", "values": ["v"]}
_STATUS: dict[str, JsonValue] = {
    "code": 200,
    "detail": "mirrored acme/app:v1.2 to dr.example.com/acme/app:v1.2",
    "timestamp": "2026-11-30T21:00:00.000Z",
}
_REMOTE: dict[str, JsonValue] = {
    "remoteHost": "https://dr.example.com",
    "remoteRepository": "acme/app",
    "remoteCA": "",
    "skipTLSVerification": False,
    "username": "mirror",
}
_PUSH_IN: dict[str, JsonValue] = {
    **_REMOTE,
    "rules": [_RULE],
    "tagTemplate": "%n",
    "enabled": True,
    "password": "s3cret",
    "authToken": "",
}
_POLL_IN: dict[str, JsonValue] = {**_REMOTE, "enabled": True, "password": "s3cret", "authToken": ""}
_OUT: dict[str, JsonValue] = {
    **_REMOTE,
    "id": "7f0c2b9e-4c1e-4d0a-9a51-0b3f4b6c8d21",
    "localRepository": "acme/app",
    "enabled": True,
    "lastMirroredAt": "2026-11-30T21:00:00.000Z",
    "lastStatus": _STATUS,
}


def _examples(*examples: JsonValue) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class RuleIn(BaseModel):
    model_config = _examples(_RULE)

    field: str
    operator: str
    values: list[str]


class LastStatus(BaseModel):
    model_config = _examples(_STATUS)

    code: int = Field(description="200 when the last run succeeded, else the failure's status")
    detail: str
    timestamp: str


class RemoteIn(BaseModel):
    """The remote registry and the credentials for it (stored encrypted, never returned)."""

    remoteHost: str = Field(max_length=512)
    remoteRepository: str = Field(max_length=512)
    remoteCA: str = Field(default="", max_length=65536)
    skipTLSVerification: bool = False
    username: str = Field(default="", max_length=255)
    password: str = Field(default="", max_length=4096)
    authToken: str = Field(default="", max_length=8192)


class PollMirroringPolicyIn(RemoteIn):
    model_config = _examples(_POLL_IN)

    enabled: bool = True


class PushMirroringPolicyIn(PollMirroringPolicyIn):
    model_config = _examples(_PUSH_IN)

    rules: list[Any] = Field(default_factory=list)
    tagTemplate: str = Field(default="%n", max_length=255)


class ManualMirroringIn(RemoteIn):
    model_config = _examples({**_POLL_IN, "remoteTag": "v1.2"})

    remoteTag: str = Field(default="", max_length=128)


class PollMirroringPolicyOut(BaseModel):
    model_config = _examples(_OUT)

    id: str
    username: str
    localRepository: str
    remoteHost: str
    remoteRepository: str
    remoteCA: str
    skipTLSVerification: bool
    enabled: bool
    lastMirroredAt: str | None
    lastStatus: LastStatus | None


class PushMirroringPolicyOut(PollMirroringPolicyOut):
    model_config = _examples({**_OUT, "rules": [_RULE], "tagTemplate": "%n"})

    rules: list[RuleIn]
    tagTemplate: str


class MirroringPolicyOut(PushMirroringPolicyOut):
    """The generic list: push and poll policies side by side (`rules`/`tagTemplate` empty for
    poll)."""

    model_config = _examples({**_OUT, "rules": [], "tagTemplate": "", "mirroringType": "poll"})

    mirroringType: str = Field(description="`push` or `poll`")


class PolicyId(BaseModel):
    model_config = _examples({"id": "7f0c2b9e-4c1e-4d0a-9a51-0b3f4b6c8d21"})

    id: str


class MirroringOut(BaseModel):
    """A manual push mirroring, queued as a job."""

    model_config = _examples(
        {
            "id": "2d0a…",
            "localRepository": "acme/app",
            "tag": "v1.2",
            "remoteHost": "https://dr.example.com",
            "remoteRepository": "acme/app",
            "remoteTag": "v1.2",
        }
    )

    id: str
    localRepository: str
    tag: str
    remoteHost: str
    remoteRepository: str
    remoteTag: str


class JobIn(BaseModel):
    model_config = _examples({"action": "poll_mirror"})

    action: str = Field(description="`poll_mirror`: run every enabled poll mirroring policy now")


class JobOut(BaseModel):
    model_config = _examples({"id": "2d0a…", "action": "poll_mirror", "status": "waiting"})

    id: str
    action: str
    status: str
