"""OpenAI chat completions (`/v1/chat/completions`): where the texts of a request and an answer are.

Everything not named here is read as text (see _walk): content as a string or as parts of any type,
`name`, tool-call and function-call arguments, tool descriptions and schemas, `response_format`
schemas, `stop`, `metadata`, `user`, prediction content; in answers `reasoning_content`,
`refusal`, content parts, tool calls, logprob tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.endpoints._schema import (
    BOOLEAN,
    INTEGER,
    METADATA,
    NUMBER,
    OBJECT,
    POSITIVE,
    STOP,
    STRING,
    nullable,
    parts,
)
from runtime.endpoints._schema import usage as usage_schema
from runtime.endpoints._types import Channel, Endpoint, Route, StreamFormat, Usage
from runtime.endpoints._walk import Path, data_uri, index, items, shape

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


# --- schemas (runtime/endpoints/_schema.py says how permissive they are) ----------------------

_CONTENT_PART = parts(
    "type",
    _PART_TYPES,
    {
        "text": {"required": ["text"], "properties": {"text": STRING}},
        "input_text": {"required": ["text"], "properties": {"text": STRING}},
        "refusal": {"required": ["refusal"], "properties": {"refusal": STRING}},
        "image_url": {
            "required": ["image_url"],
            # an object {url, detail}; LiteLLM also takes the URL as a plain string
            "properties": {
                "image_url": {
                    "type": ["object", "string"],
                    "required": ["url"],
                    "properties": {"url": STRING, "detail": STRING},
                }
            },
        },
        "input_audio": {
            "required": ["input_audio"],
            "properties": {
                "input_audio": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {"data": STRING, "format": STRING},
                }
            },
        },
        "file": {
            "required": ["file"],
            "properties": {
                "file": {
                    "type": "object",
                    "properties": {"file_data": STRING, "file_id": STRING, "filename": STRING},
                }
            },
        },
    },
)
_CONTENT = {"type": ["string", "array", "null"], "items": _CONTENT_PART}
_FUNCTION_CALL = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": STRING, "arguments": STRING},
}
_TOOL_CALL = {
    "type": "object",
    "properties": {"id": STRING, "type": STRING, "function": _FUNCTION_CALL},
}
_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"enum": list(ROLES)},
        "content": _CONTENT,
        "name": nullable(STRING),
        "tool_calls": {"type": ["array", "null"], "items": _TOOL_CALL},
        "tool_call_id": nullable(STRING),
        "function_call": {**_FUNCTION_CALL, "type": ["object", "null"]},
        "refusal": nullable(STRING),
        "audio": {"type": ["object", "null"], "properties": {"id": STRING}},
        "reasoning_content": nullable(STRING),
    },
}
_FUNCTION = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": STRING, "description": STRING, "parameters": OBJECT, "strict": BOOLEAN},
}

REQUEST_SCHEMA = {
    "title": "chat completion request",
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "messages": {"type": "array", "minItems": 1, "items": _MESSAGE},
        "stream": BOOLEAN,
        "stream_options": {"type": ["object", "null"], "properties": {"include_usage": BOOLEAN}},
        "temperature": {**NUMBER, "minimum": 0},
        "top_p": {**NUMBER, "minimum": 0, "maximum": 1},
        # the API's own limits: a client cannot have the provider generate without end
        "n": {**POSITIVE, "maximum": 128},
        "max_tokens": POSITIVE,
        "max_completion_tokens": POSITIVE,
        "stop": STOP,
        "presence_penalty": NUMBER,
        "frequency_penalty": NUMBER,
        "logit_bias": {"type": ["object", "null"], "additionalProperties": {"type": "number"}},
        "logprobs": BOOLEAN,
        "top_logprobs": {**INTEGER, "minimum": 0},
        "user": nullable(STRING),
        "seed": INTEGER,
        "tools": {
            "type": ["array", "null"],
            "items": {"type": "object", "required": ["type"], "properties": {"type": STRING, "function": _FUNCTION}},
        },
        "tool_choice": {"type": ["string", "object", "null"], "properties": {"type": STRING}},
        "parallel_tool_calls": BOOLEAN,
        "functions": {"type": ["array", "null"], "items": _FUNCTION},
        "function_call": {"type": ["string", "object", "null"], "properties": {"name": STRING}},
        "response_format": {"type": ["object", "null"], "required": ["type"], "properties": {"type": STRING}},
        "metadata": METADATA,
        "store": BOOLEAN,
        "modalities": {"type": ["array", "null"], "items": STRING},
        "audio": {
            "type": ["object", "null"],
            "properties": {"voice": {"type": ["string", "object"]}, "format": STRING},
        },
        "prediction": {"type": ["object", "null"], "properties": {"type": STRING, "content": _CONTENT}},
        "service_tier": nullable(STRING),
        "reasoning_effort": nullable(STRING),
        "verbosity": nullable(STRING),
        "web_search_options": {"type": ["object", "null"]},
        "safety_identifier": nullable(STRING),
        "prompt_cache_key": nullable(STRING),
    },
}

_USAGE = usage_schema("prompt_tokens", "completion_tokens", "total_tokens")
_ANSWER_MESSAGE = {
    "type": ["object", "null"],
    "properties": {
        "role": nullable(STRING),
        "content": {"type": ["string", "array", "null"], "items": OBJECT},
        "refusal": nullable(STRING),
        "reasoning_content": nullable(STRING),
        # in a stream, a call's name and arguments arrive in pieces
        "tool_calls": {
            "type": ["array", "null"],
            "items": {"type": "object", "properties": {"id": STRING, "function": {"type": "object"}}},
        },
        "function_call": {"type": ["object", "null"]},
    },
}

ANSWER_SCHEMA = {
    "title": "chat completion",
    "type": "object",
    "properties": {
        "id": STRING,
        "object": STRING,
        "model": STRING,
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"index": INTEGER, "message": _ANSWER_MESSAGE, "finish_reason": nullable(STRING)},
            },
        },
        "usage": _USAGE,
    },
}

CHUNK_SCHEMA = {
    "title": "chat completion chunk",
    "type": "object",
    "properties": {
        "id": STRING,
        "model": STRING,
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"index": INTEGER, "delta": _ANSWER_MESSAGE, "finish_reason": nullable(STRING)},
            },
        },
        "usage": _USAGE,
    },
}


STREAM = StreamFormat(deltas=_deltas, closes=_closes, shape=_CHUNK, usage=usage, schema=CHUNK_SCHEMA)

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
    request_schema=REQUEST_SCHEMA,
    answer_schema=ANSWER_SCHEMA,
    answer_kinds=("json", "sse"),
)
