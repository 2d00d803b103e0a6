"""A2A agents through LiteLLM's agent gateway (`/a2a/{agent_id}`, JSON-RPC 2.0): message parts go
through the prompt policy, the agent's answers (messages, tasks, artifacts, status updates) through
the output policy; `message/stream` answers are SSE events whose artifact text may arrive in
pieces (`append`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runtime.endpoints._schema import JSONRPC_ID, OBJECT, STRING, parts
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


_PART = parts(
    "kind",
    ("text", "file", "data"),
    {
        "text": {"required": ["text"], "properties": {"text": STRING}},
        "file": {"required": ["file"], "properties": {"file": OBJECT}},
        "data": {"required": ["data"], "properties": {"data": OBJECT}},
    },
)
_MESSAGE = {
    "type": "object",
    "required": ["role", "parts"],
    "properties": {
        "kind": STRING,
        "role": {"enum": ["user", "agent"]},
        "parts": {"type": "array", "items": _PART},
        "messageId": STRING,
        "contextId": STRING,
        "taskId": STRING,
        "referenceTaskIds": {"type": "array", "items": STRING},
        "metadata": OBJECT,
    },
}

REQUEST_SCHEMA = {
    "title": "A2A JSON-RPC request",
    "type": "object",
    "required": ["jsonrpc", "method"],
    "properties": {
        "jsonrpc": {"const": "2.0"},
        "id": JSONRPC_ID,
        "method": STRING,
        "params": OBJECT,
    },
    "allOf": [
        {
            "if": {"required": ["method"], "properties": {"method": {"enum": ["message/send", "message/stream"]}}},
            "then": {
                "required": ["params"],
                "properties": {
                    "params": {
                        "required": ["message"],
                        "properties": {"message": _MESSAGE, "configuration": OBJECT, "metadata": OBJECT},
                    }
                },
            },
        }
    ],
}

ANSWER_SCHEMA = {
    "title": "A2A JSON-RPC response",
    "type": "object",
    "properties": {
        "jsonrpc": STRING,
        "id": JSONRPC_ID,
        "result": OBJECT,
        "error": {"type": "object", "properties": {"code": {"type": "integer"}, "message": STRING}},
    },
}


def _deltas(event: Mapping[str, Any]) -> list[tuple[Channel, Path]]:
    """Text an agent sends in pieces: artifact updates (per artifact and part) and the messages of
    status updates (an agent may spell one sentence over several), judged as one text each."""
    result = event.get("result")
    if not isinstance(result, dict):
        return []
    prefix: Path
    if result.get("kind") == "artifact-update" and isinstance(result.get("artifact"), dict):
        artifact = result["artifact"]
        key = str(artifact.get("artifactId", ""))
        parts, prefix = artifact.get("parts"), ("result", "artifact", "parts")
    elif result.get("kind") == "status-update" and isinstance(result.get("status"), dict):
        message = result["status"].get("message")
        if not isinstance(message, dict):
            return []
        key, parts, prefix = "status", message.get("parts"), ("result", "status", "message", "parts")
    else:
        return []
    return [
        ((key, index(part, j)), (*prefix, j, "text"))
        for j, part in enumerate(items(parts))
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
    stream=StreamFormat(deltas=_deltas, closes=_closes, shape=SHAPE, schema=ANSWER_SCHEMA),
    streams=lambda body: isinstance(body, dict) and body.get("method") in ("message/stream", "tasks/resubscribe"),
    model_field=None,
    stream_error=stream_error,
    request_schema=REQUEST_SCHEMA,
    answer_schema=ANSWER_SCHEMA,
    answer_kinds=("json", "sse"),
)
