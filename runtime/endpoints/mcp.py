"""MCP through LiteLLM's MCP gateway (`/mcp/...`, streamable HTTP, JSON-RPC 2.0): a `tools/call`'s
arguments go through the prompt policy, tool results (and every other result: tool lists,
resources, prompts) through the output policy. Answers come as JSON or as SSE events, each a whole
JSON-RPC message."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runtime.endpoints._types import Endpoint, Route, StreamFormat
from runtime.endpoints._walk import Rules, shape
from runtime.errors import ApiError

__all__ = ["ENDPOINT"]

_METHODS = (
    "initialize",
    "notifications/initialized",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "notifications/cancelled",
    "notifications/progress",
)
_CONTENT = ("text", "image", "audio", "resource", "resource_link")

_MESSAGE: Rules = {
    "jsonrpc": {"enum": ("2.0",)},
    "method": {"enum": _METHODS},
    "result.content[].type": {"enum": _CONTENT},
    "result.content[].data": {"binary": "image"},
    "result.contents[].blob": {"binary": "file"},
    "result.tools[].inputSchema.type": {"enum": ("object",)},
}

# A JSON-RPC message, or a batch of them
REQUEST = shape({**_MESSAGE, **{f"[].{k}": v for k, v in _MESSAGE.items()}})
ANSWER = shape({**_MESSAGE, **{f"[].{k}": v for k, v in _MESSAGE.items()}})


def _request_id(body: Any) -> Any:
    first = body[0] if isinstance(body, list) and body else body
    return first.get("id") if isinstance(first, dict) else None


def in_band_refusal(body: Any, error: ApiError) -> bytes:
    """A blocked tool call is a tool result with isError (what LiteLLM's MCP gateway answers too),
    so the model sees why; the decision headers say block."""
    result = {
        "content": [{"type": "text", "text": f"Error: {error.message}"}],
        "isError": True,
        "_meta": {"policy_gateway": error.error()},
    }
    return json.dumps({"jsonrpc": "2.0", "id": _request_id(body), "result": result}).encode()


def stream_error(error: ApiError) -> bytes:
    message = {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": error.message, "data": error.error()}}
    return b"event: message\ndata: " + json.dumps(message).encode() + b"\n\n"


ENDPOINT = Endpoint(
    name="mcp",
    title="MCP tools (LiteLLM's MCP gateway)",
    capability="mcp",
    routes=(
        Route("POST", "/mcp"),
        Route("POST", "/mcp/{rest*}"),
        Route("GET", "/mcp", kind="read"),
        Route("GET", "/mcp/{rest*}", kind="read"),
        Route("DELETE", "/mcp", kind="read"),
        Route("DELETE", "/mcp/{rest*}", kind="read"),
    ),
    request=REQUEST,
    answer=ANSWER,
    # Every event is a whole message: nothing arrives in pieces.
    stream=StreamFormat(deltas=lambda _: [], closes=lambda _: (), shape=ANSWER),
    # The server picks JSON or SSE; the gateway reads either.
    streams=lambda _: False,
    model_field=None,
    forward_headers=("mcp-session-id", "mcp-protocol-version", "accept", "last-event-id"),
    return_headers=("mcp-session-id",),
    stream_error=stream_error,
    in_band_refusal=in_band_refusal,
)


def is_tool_call(body: Mapping[str, Any] | list[Any]) -> bool:
    messages = body if isinstance(body, list) else [body]
    return any(isinstance(m, dict) and m.get("method") == "tools/call" for m in messages)
