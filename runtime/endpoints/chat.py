"""OpenAI chat completions (`/v1/chat/completions`): where the texts of a request and an answer are.

Everything not named here is read as text (see _walk): content as a string or as parts of any type,
`name`, tool-call and function-call arguments, tool descriptions and schemas, `response_format`
schemas, `stop`, `metadata`, `user`, prediction content; in answers `reasoning_content`,
`refusal`, content parts, tool calls, logprob tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.endpoints._types import Channel, Endpoint, Route, StreamFormat, Usage
from runtime.endpoints._walk import Path, data_uri, index, items, shape
from runtime.errors import ApiError

__all__ = ["ENDPOINT", "ROLES", "usage"]

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_PART_TYPES = ("text", "image_url", "input_audio", "file", "refusal", "input_text")
_FINISH = ("stop", "length", "tool_calls", "content_filter", "function_call")
_TIERS = ("auto", "default", "flex", "scale", "priority")

REQUEST = shape(
    {
        # The router refuses a model the specs do not name before any policy runs.
        "model": {"skip": True},
        "messages[]": {"role_key": "role"},
        "messages[].role": {"enum": ROLES},
        "messages[].content[].type": {"enum": _PART_TYPES},
        "messages[].content[].image_url.url": {"binary": ("image", data_uri)},
        "messages[].content[].image_url.detail": {"enum": ("auto", "low", "high")},
        "messages[].content[].input_audio.data": {"binary": "audio"},
        "messages[].content[].input_audio.format": {"enum": ("wav", "mp3")},
        "messages[].content[].file.file_data": {"binary": "file"},
        "messages[].tool_calls[].type": {"enum": ("function",)},
        "tools[].type": {"enum": ("function",)},
        "tool_choice": {"enum": ("none", "auto", "required")},
        "tool_choice.type": {"enum": ("function",)},
        "function_call": {"enum": ("none", "auto")},
        "response_format.type": {"enum": ("text", "json_object", "json_schema")},
        "service_tier": {"enum": _TIERS},
        "modalities[]": {"enum": ("text", "audio")},
        "audio.format": {"enum": ("wav", "mp3", "flac", "opus", "pcm16", "aac")},
        "prediction.type": {"enum": ("content",)},
        "reasoning_effort": {"enum": ("minimal", "low", "medium", "high")},
        "verbosity": {"enum": ("low", "medium", "high")},
    }
)

ANSWER = shape(
    {
        "object": {"enum": ("chat.completion",)},
        "service_tier": {"enum": _TIERS},
        "choices[].finish_reason": {"enum": _FINISH},
        "choices[].message.role": {"enum": ("assistant",)},
        "choices[].message.tool_calls[].type": {"enum": ("function",)},
        "choices[].message.annotations[].type": {"enum": ("url_citation",)},
        "choices[].message.audio.data": {"binary": "audio"},
    }
)

_CHUNK = shape(
    {
        "object": {"enum": ("chat.completion.chunk",)},
        "service_tier": {"enum": _TIERS},
        "choices[].finish_reason": {"enum": _FINISH},
        "choices[].delta.role": {"enum": ("assistant",)},
        "choices[].delta.tool_calls[].type": {"enum": ("function",)},
        "choices[].delta.audio.data": {"binary": "audio"},
    }
)


def _deltas(event: Mapping[str, Any]) -> list[tuple[Channel, Path]]:
    """Content, reasoning, refusal and tool-call arguments arrive in pieces, per choice."""
    out: list[tuple[Channel, Path]] = []
    for i, choice in enumerate(items(event.get("choices"))):
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            continue
        n = index(choice, i)
        for key in ("content", "reasoning_content", "refusal"):
            if isinstance(delta.get(key), str):
                out.append(((n, key), ("choices", i, "delta", key)))
        for j, call in enumerate(items(delta.get("tool_calls"))):
            arguments = call.get("function", {}).get("arguments") if isinstance(call, dict) else None
            if isinstance(arguments, str):
                path: Path = ("choices", i, "delta", "tool_calls", j, "function", "arguments")
                out.append(((n, "tool", index(call, j)), path))
        function = delta.get("function_call")
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            out.append(((n, "function"), ("choices", i, "delta", "function_call", "arguments")))
    return out


def _closes(event: Mapping[str, Any]) -> tuple[Channel, ...]:
    """A finished choice ends its channels (keyed by the choice index first)."""
    return tuple(
        (index(c, i),)
        for i, c in enumerate(items(event.get("choices")))
        if isinstance(c, dict) and c.get("finish_reason")
    )


def usage(answer: Mapping[str, Any]) -> Usage | None:
    u = answer.get("usage")
    if not isinstance(u, dict):
        return None
    return _count(u.get("prompt_tokens")), _count(u.get("completion_tokens"))


def _count(value: Any) -> int:
    return value if type(value) is int and value >= 0 else 0


def validate(body: Any) -> None:
    def bad(param: str, message: str) -> ApiError:
        return ApiError(400, message, code="invalid_request", param=param)

    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        raise bad("messages", "`messages` must be a non-empty list of {role, content} objects")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise bad(f"messages[{i}].role", f"messages[{i}] needs a role, one of {sorted(ROLES)}")
        content = m.get("content")
        if content is not None and not isinstance(content, str | list):
            raise bad(f"messages[{i}].content", f"messages[{i}].content must be a string or list")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise bad("stream", "`stream` must be true or false")
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise bad(name, f"`{name}` must be a positive integer")


STREAM = StreamFormat(deltas=_deltas, closes=_closes, shape=_CHUNK, usage=usage)

ENDPOINT = Endpoint(
    name="chat",
    title="chat completions",
    capability="chat",
    routes=(Route("POST", "/v1/chat/completions"), Route("POST", "/policy/chat/completions")),
    request=REQUEST,
    answer=ANSWER,
    # The budget uses the largest: a client cannot talk it down with a small one beside a large one.
    output_token_fields=("max_tokens", "max_completion_tokens"),
    stream=STREAM,
    usage=usage,
    validate=validate,
)
