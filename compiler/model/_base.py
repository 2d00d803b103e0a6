"""Shared building blocks of the spec language."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from runtime.endpoints import ENDPOINTS


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
# What a model does; each endpoint of runtime.endpoints names the one it needs (a TTS model does
# not transcribe, so speech and transcription are two).
Capability = Literal["chat", "completions", "embeddings", "images", "speech", "transcription", "moderations", "rerank"]
# MCP server names: LiteLLM names a server's tools `<server>-<tool>` and refuses a name with "-".
McpServerName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=63)]

# The endpoints the gateway can expose: the names of runtime.endpoints.ENDPOINTS, in table order.
if TYPE_CHECKING:
    EndpointName = str
else:
    EndpointName = Literal[tuple(ENDPOINTS)]

SEMVER_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)")
