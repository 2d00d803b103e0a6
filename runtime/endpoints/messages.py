"""Anthropic messages (`/v1/messages`): `system` (the operator's), messages with content blocks
(text, images, documents, tool_use input, tool_result content, thinking), tools. Streamed answers
are Anthropic's event stream: text, tool input JSON and thinking arrive as deltas per block."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from runtime.endpoints._types import ALL, Channel, Endpoint, Route, StreamFormat, Usage, sse
from runtime.endpoints._walk import Path, Rules, shape
from runtime.errors import ApiError

__all__ = ["ENDPOINT"]

_BLOCK_TYPES = (
    "text",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "server_tool_use",
    "web_search_tool_result",
    "search_result",
)
_SOURCE_TYPES = ("base64", "url", "text", "content", "file")
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\r\n]{64,}$")
_STOP = ("end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal")


def _base64(value: str) -> bool:
    """Inline bytes (an image or a PDF); a plain-text document source holds spaces and is read."""
    return bool(_BASE64.match(value[:4096]))


_BLOCKS: Rules = {
    "type": {"enum": _BLOCK_TYPES},
    "source.type": {"enum": _SOURCE_TYPES},
    "source.media_type": {
        "enum": (
            "image/jpeg",
            "image/png",
            "image/gif",
            "image/webp",
            "application/pdf",
            "text/plain",
        )
    },
    "source.data": {"binary": ("file", _base64)},
    "cache_control.type": {"enum": ("ephemeral",)},
    "content[].type": {"enum": _BLOCK_TYPES},
    "content[].source.data": {"binary": ("file", _base64)},
}

REQUEST = shape(
    {
        "model": {"skip": True},
        "system": {"role": "system"},
        "system[].type": {"enum": ("text",)},
        "system[].cache_control.type": {"enum": ("ephemeral",)},
        "messages[]": {"role_key": "role"},
        "messages[].role": {"enum": ("user", "assistant")},
        **{f"messages[].content[].{k}": v for k, v in _BLOCKS.items()},
        "tool_choice.type": {"enum": ("auto", "any", "tool", "none")},
        "thinking.type": {"enum": ("enabled", "disabled")},
        "tools[].type": {"enum": ("custom", "web_search_20250305", "bash_20250124", "text_editor_20250124")},
        "tools[].cache_control.type": {"enum": ("ephemeral",)},
        "service_tier": {"enum": ("auto", "standard_only")},
    }
)

_MESSAGE: Rules = {
    "type": {"enum": ("message",)},
    "role": {"enum": ("assistant",)},
    "stop_reason": {"enum": _STOP},
    "content[].type": {"enum": _BLOCK_TYPES},
    "content[].signature": {"binary": "signature"},
    "content[].data": {"binary": "signature"},  # redacted_thinking: encrypted, for the provider only
    "usage.service_tier": {"enum": ("standard", "priority", "batch")},
}

ANSWER = shape({**_MESSAGE, "error.type": {"enum": ("invalid_request_error", "overloaded_error", "api_error")}})

_EVENT_TYPES = (
    "message_start",
    "message_delta",
    "message_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "ping",
    "error",
)
_DELTA_TYPES = ("text_delta", "input_json_delta", "thinking_delta", "signature_delta", "citations_delta")

_EVENT = shape(
    {
        "type": {"enum": _EVENT_TYPES},
        **{f"message.{k}": v for k, v in _MESSAGE.items()},
        "content_block.type": {"enum": _BLOCK_TYPES},
        "content_block.signature": {"binary": "signature"},
        "content_block.data": {"binary": "signature"},
        "delta.type": {"enum": _DELTA_TYPES},
        "delta.stop_reason": {"enum": _STOP},
        "delta.signature": {"binary": "signature"},
    }
)

# delta type -> the key holding its piece of text
_PIECE = {"text_delta": "text", "input_json_delta": "partial_json", "thinking_delta": "thinking"}


def _deltas(event: Mapping[str, Any]) -> list[tuple[Channel, Path]]:
    if event.get("type") != "content_block_delta" or not isinstance(event.get("delta"), dict):
        return []
    key = _PIECE.get(str(event["delta"].get("type")))
    if key is None or not isinstance(event["delta"].get(key), str):
        return []
    return [((_int(event.get("index")), key), ("delta", key))]


def _closes(event: Mapping[str, Any]) -> tuple[Channel, ...]:
    kind = event.get("type")
    if kind == "content_block_stop":
        return ((_int(event.get("index")),),)
    return (ALL,) if kind in ("message_stop", "error") else ()


def usage(answer: Mapping[str, Any]) -> Usage | None:
    u = answer.get("usage")
    if not isinstance(u, dict):
        return None
    return _int(u.get("input_tokens")), _int(u.get("output_tokens"))


def _stream_usage(event: Mapping[str, Any]) -> Usage | None:
    """message_start reports the input tokens, message_delta the output tokens so far (cumulative):
    the filter keeps the largest of each."""
    if event.get("type") == "message_start" and isinstance(event.get("message"), dict):
        return usage(event["message"])
    if event.get("type") == "message_delta":
        return usage(event)
    return None


def _int(value: Any) -> int:
    return value if type(value) is int and value >= 0 else 0


# Anthropic's error types by HTTP status; the gateway's own details (policy, categories) ride along.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def _error(error: ApiError) -> dict[str, Any]:
    inner = {**error.error(), "type": _ERROR_TYPES.get(error.status, "api_error"), "gateway_type": error.type}
    return {"type": "error", "error": inner}


def error_body(error: ApiError) -> bytes:
    """Anthropic's error body, so the Anthropic SDK reads the gateway's errors as its own."""
    return json.dumps(_error(error)).encode()


def stream_error(error: ApiError) -> bytes:
    return sse("error", _error(error))


ENDPOINT = Endpoint(
    name="messages",
    title="Anthropic messages",
    capability="chat",
    routes=(Route("POST", "/v1/messages"), Route("POST", "/v1/messages/count_tokens")),
    request=REQUEST,
    answer=ANSWER,
    output_token_fields=("max_tokens",),
    stream=StreamFormat(deltas=_deltas, closes=_closes, shape=_EVENT, usage=_stream_usage),
    usage=usage,
    error_body=error_body,
    stream_error=stream_error,
)
