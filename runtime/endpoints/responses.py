"""OpenAI Responses API (`/v1/responses`): `input` as text or items (messages with parts, function
calls and their outputs, reasoning), `instructions` (the operator's, like a system message), tools.
Stored responses (`GET /v1/responses/{id}`, `/input_items`) are answers too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.endpoints._types import ALL, Channel, Endpoint, Route, StreamFormat, Usage, sse
from runtime.endpoints._walk import Path, Rules, data_uri, shape
from runtime.errors import ApiError

__all__ = ["ENDPOINT"]

_ROLES = ("user", "assistant", "system", "developer")
_ITEM_TYPES = (
    "message",
    "function_call",
    "function_call_output",
    "reasoning",
    "item_reference",
    "web_search_call",
    "file_search_call",
    "computer_call",
    "computer_call_output",
)
_PART_TYPES = ("input_text", "input_image", "input_file", "output_text", "refusal", "summary_text", "reasoning_text")
_STATUS = ("in_progress", "completed", "incomplete", "failed", "cancelled", "queued")
_INCLUDE = (
    "file_search_call.results",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "reasoning.encrypted_content",
    "code_interpreter_call.outputs",
    "message.output_text.logprobs",
    "web_search_call.action.sources",
)

REQUEST = shape(
    {
        "model": {"skip": True},
        "instructions": {"role": "system"},
        "input[]": {"role_key": "role"},
        "input[].role": {"enum": _ROLES},
        "input[].type": {"enum": _ITEM_TYPES},
        "input[].status": {"enum": _STATUS},
        "input[].output": {"role": "tool"},
        "input[].content[].type": {"enum": _PART_TYPES},
        "input[].content[].image_url": {"binary": ("image", data_uri)},
        "input[].content[].detail": {"enum": ("auto", "low", "high")},
        "input[].content[].file_data": {"binary": "file"},
        "input[].summary[].type": {"enum": ("summary_text",)},
        "tools[].type": {"enum": ("function", "web_search", "web_search_preview", "file_search", "mcp")},
        "tool_choice": {"enum": ("none", "auto", "required")},
        "tool_choice.type": {"enum": ("function", "allowed_tools")},
        "text.format.type": {"enum": ("text", "json_object", "json_schema")},
        "text.verbosity": {"enum": ("low", "medium", "high")},
        "reasoning.effort": {"enum": ("minimal", "low", "medium", "high")},
        "reasoning.summary": {"enum": ("auto", "concise", "detailed")},
        "truncation": {"enum": ("auto", "disabled")},
        "service_tier": {"enum": ("auto", "default", "flex", "scale", "priority")},
        "include[]": {"enum": _INCLUDE},
    }
)

_RESPONSE: Rules = {
    "object": {"enum": ("response",)},
    "status": {"enum": _STATUS},
    "output[].type": {"enum": _ITEM_TYPES},
    "output[].status": {"enum": _STATUS},
    "output[].role": {"enum": ("assistant",)},
    "output[].content[].type": {"enum": _PART_TYPES},
    "output[].content[].annotations[].type": {"enum": ("url_citation", "file_citation")},
    "output[].summary[].type": {"enum": ("summary_text",)},
    "text.format.type": {"enum": ("text", "json_object", "json_schema")},
    "tool_choice": {"enum": ("none", "auto", "required")},
    "truncation": {"enum": ("auto", "disabled")},
    "service_tier": {"enum": ("auto", "default", "flex", "scale", "priority")},
    "tools[].type": {"enum": ("function", "web_search", "web_search_preview", "file_search", "mcp")},
    "reasoning.effort": {"enum": ("minimal", "low", "medium", "high")},
    "reasoning.summary": {"enum": ("auto", "concise", "detailed")},
}

ANSWER = shape(
    {
        **_RESPONSE,
        # GET /v1/responses/{id}/input_items: a list of the input items
        "data[].type": {"enum": _ITEM_TYPES},
        "data[].role": {"enum": _ROLES},
        "data[].status": {"enum": _STATUS},
        "data[].content[].type": {"enum": _PART_TYPES},
    }
)

_EVENT_TYPES = (
    "response.created",
    "response.in_progress",
    "response.completed",
    "response.failed",
    "response.incomplete",
    "response.queued",
    "response.output_item.added",
    "response.output_item.done",
    "response.content_part.added",
    "response.content_part.done",
    "response.output_text.delta",
    "response.output_text.done",
    "response.output_text.annotation.added",
    "response.refusal.delta",
    "response.refusal.done",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.reasoning_summary_part.added",
    "response.reasoning_summary_part.done",
    "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.done",
    "response.reasoning_text.delta",
    "response.reasoning_text.done",
    "error",
)

_EVENT = shape(
    {
        "type": {"enum": _EVENT_TYPES},
        **{f"response.{k}": v for k, v in _RESPONSE.items()},
        "item.type": {"enum": _ITEM_TYPES},
        "item.status": {"enum": _STATUS},
        "item.role": {"enum": ("assistant",)},
        "item.content[].type": {"enum": _PART_TYPES},
        "item.summary[].type": {"enum": ("summary_text",)},
        "part.type": {"enum": _PART_TYPES},
    }
)

# delta event -> the name of its channel; its done event carries the whole text again
_DELTAS = {
    "response.output_text.delta": "text",
    "response.refusal.delta": "refusal",
    "response.function_call_arguments.delta": "arguments",
    "response.reasoning_summary_text.delta": "summary",
    "response.reasoning_text.delta": "reasoning",
}
_DONE = {kind.replace(".delta", ".done"): channel for kind, channel in _DELTAS.items()}


def _channel(event: Mapping[str, Any], name: str) -> Channel:
    part = event.get("content_index", event.get("summary_index", 0))
    return (_int(event.get("output_index")), name, _int(part))


def _deltas(event: Mapping[str, Any]) -> list[tuple[Channel, Path]]:
    name = _DELTAS.get(str(event.get("type")))
    if name is None or not isinstance(event.get("delta"), str):
        return []
    return [(_channel(event, name), ("delta",))]


def _closes(event: Mapping[str, Any]) -> tuple[Channel, ...]:
    kind = str(event.get("type"))
    if kind in _DONE:
        return (_channel(event, _DONE[kind]),)
    if kind in ("response.completed", "response.failed", "response.incomplete", "error"):
        return (ALL,)
    return ()


def usage(answer: Mapping[str, Any]) -> Usage | None:
    u = answer.get("usage")
    if not isinstance(u, dict):
        return None
    return _int(u.get("input_tokens")), _int(u.get("output_tokens"))


def _stream_usage(event: Mapping[str, Any]) -> Usage | None:
    response = event.get("response")
    return usage(response) if event.get("type") == "response.completed" and isinstance(response, dict) else None


def _int(value: Any) -> int:
    return value if type(value) is int and value >= 0 else 0


def stream_error(error: ApiError) -> bytes:
    """The Responses API's error event."""
    return sse("error", {"type": "error", **error.error()})


ENDPOINT = Endpoint(
    name="responses",
    title="responses",
    capability="chat",
    routes=(
        Route("POST", "/v1/responses"),
        Route("GET", "/v1/responses/{response_id}", kind="read"),
        Route("DELETE", "/v1/responses/{response_id}", kind="read"),
        Route("GET", "/v1/responses/{response_id}/input_items", kind="read"),
    ),
    request=REQUEST,
    answer=ANSWER,
    output_token_fields=("max_output_tokens",),
    stream=StreamFormat(deltas=_deltas, closes=_closes, shape=_EVENT, usage=_stream_usage),
    usage=usage,
    stream_error=stream_error,
)
