"""A2A agents through LiteLLM's agent gateway (`/a2a/{agent_id}`, JSON-RPC 2.0): message parts go
through the prompt policy, the agent's answers (messages, tasks, artifacts, status updates) through
the output policy; `message/stream` answers are SSE events whose artifact text may arrive in
pieces (`append`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runtime.endpoints._types import ALL, Channel, Endpoint, Route, StreamFormat
from runtime.endpoints._walk import Path, Rules, index, items, shape
from runtime.errors import ApiError

__all__ = ["ENDPOINT"]

_METHODS = ("message/send", "message/stream", "tasks/get", "tasks/cancel", "tasks/resubscribe")
_KINDS = ("message", "task", "status-update", "artifact-update", "text", "file", "data")
_STATES = ("submitted", "working", "input-required", "completed", "canceled", "failed", "rejected", "auth-required")

_SHAPE: Rules = {
    "jsonrpc": {"enum": ("2.0",)},
    "method": {"enum": _METHODS},
    "params.message.role": {"enum": ("user", "agent")},
    "params.message.kind": {"enum": _KINDS},
    "params.message.parts[].kind": {"enum": _KINDS},
    "params.message.parts[].file.bytes": {"binary": "file"},
    "result.kind": {"enum": _KINDS},
    "result.role": {"enum": ("user", "agent")},
    "result.parts[].kind": {"enum": _KINDS},
    "result.status.state": {"enum": _STATES},
    "result.status.message.kind": {"enum": _KINDS},
    "result.status.message.role": {"enum": ("user", "agent")},
    "result.status.message.parts[].kind": {"enum": _KINDS},
    "result.artifact.parts[].kind": {"enum": _KINDS},
    "result.artifacts[].parts[].kind": {"enum": _KINDS},
    "result.history[].kind": {"enum": _KINDS},
    "result.history[].role": {"enum": ("user", "agent")},
    "result.history[].parts[].kind": {"enum": _KINDS},
}

SHAPE = shape(_SHAPE)


def _deltas(event: Mapping[str, Any]) -> list[tuple[Channel, Path]]:
    """Artifact text sent in pieces: an artifact-update with append, per artifact and part."""
    result = event.get("result")
    if not isinstance(result, dict) or result.get("kind") != "artifact-update":
        return []
    artifact = result.get("artifact")
    if not isinstance(artifact, dict):
        return []
    key = str(artifact.get("artifactId", ""))
    return [
        ((key, index(part, j)), ("result", "artifact", "parts", j, "text"))
        for j, part in enumerate(items(artifact.get("parts")))
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ]


def _closes(event: Mapping[str, Any]) -> tuple[Channel, ...]:
    result = event.get("result")
    if not isinstance(result, dict):
        return (ALL,)  # an error ends the answer
    if result.get("kind") == "artifact-update" and result.get("lastChunk"):
        artifact = result.get("artifact")
        return ((str(artifact.get("artifactId", "")),),) if isinstance(artifact, dict) else ()
    return (ALL,) if result.get("final") else ()


def stream_error(error: ApiError) -> bytes:
    message = {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": error.message, "data": error.error()}}
    return b"data: " + json.dumps(message).encode() + b"\n\n"


ENDPOINT = Endpoint(
    name="a2a",
    title="A2A agents (LiteLLM's agent gateway)",
    capability="a2a",
    routes=(
        Route("POST", "/a2a/{agent_id}"),
        Route("GET", "/a2a/{agent_id}/.well-known/agent-card.json", kind="read"),
    ),
    request=SHAPE,
    answer=SHAPE,
    stream=StreamFormat(deltas=_deltas, closes=_closes, shape=SHAPE),
    streams=lambda body: isinstance(body, dict) and body.get("method") in ("message/stream", "tasks/resubscribe"),
    model_field=None,
    stream_error=stream_error,
)
