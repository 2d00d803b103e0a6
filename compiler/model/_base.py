"""Shared building blocks of the spec language."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


# Unknown keys are errors (with a "did you mean"), and a loaded spec never changes.
class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Port = Annotated[int, Field(ge=1, le=65535, description="TCP port, 1-65535")]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=63)]
EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$")]
HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/:]+(:\d{1,5})?(/\S*)?$")]
UrlPath = Annotated[str, StringConstraints(pattern=r"^/\S*$")]
SemVer = Annotated[
    str,
    StringConstraints(pattern=r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$"),
]
FailMode = Literal["closed", "open"]
Capability = Literal["chat", "completions", "embeddings", "images", "audio", "moderations", "rerank"]

SEMVER_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)")
