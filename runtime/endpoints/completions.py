"""OpenAI (legacy) completions (`/v1/completions`): `prompt` as a string, a list of strings, or
token ids (which no policy can read)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.endpoints._schema import BOOLEAN, INTEGER, METADATA, NUMBER, POSITIVE, STOP, STRING, nullable, usage
from runtime.endpoints._types import Channel, Endpoint, Route, StreamFormat
from runtime.endpoints._walk import Path, index, items, shape
from runtime.endpoints.chat import usage as count_usage

__all__ = ["ENDPOINT"]

_FINISH = ("stop", "length", "content_filter")

REQUEST = shape(
    {
        "model": {"skip": True},
        "prompt": {"tokens": True},
        "prompt[]": {"tokens": True},
    }
)

ANSWER = shape({"object": {"enum": ("text_completion",)}, "choices[].finish_reason": {"enum": _FINISH}})

_TOKENS = {"type": "array", "items": {"type": "integer"}}

REQUEST_SCHEMA = {
    "title": "completion request",
    "type": "object",
    "required": ["model", "prompt"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        # a text, texts, token ids, or lists of token ids
        "prompt": {
            "type": ["string", "array"],
            "items": {"type": ["string", "integer", "array"], "items": {"type": "integer"}},
        },
        "suffix": nullable(STRING),
        "max_tokens": {**INTEGER, "minimum": 0},
        "temperature": {**NUMBER, "minimum": 0},
        "top_p": {**NUMBER, "minimum": 0, "maximum": 1},
        "n": {**POSITIVE, "maximum": 128},
        "best_of": {**POSITIVE, "maximum": 20},
        "stream": BOOLEAN,
        "stream_options": {"type": ["object", "null"], "properties": {"include_usage": BOOLEAN}},
        "logprobs": {**INTEGER, "minimum": 0},
        "echo": BOOLEAN,
        "stop": STOP,
        "presence_penalty": NUMBER,
        "frequency_penalty": NUMBER,
        "logit_bias": {"type": ["object", "null"], "additionalProperties": {"type": "number"}},
        "user": nullable(STRING),
        "seed": INTEGER,
        "metadata": METADATA,
    },
}

ANSWER_SCHEMA = {
    "title": "completion",
    "type": "object",
    "properties": {
        "id": STRING,
        "model": STRING,
        "choices": {
            "type": "array",
            "items": {"type": "object", "properties": {"text": nullable(STRING), "index": INTEGER}},
        },
        "usage": usage("prompt_tokens", "completion_tokens", "total_tokens"),
    },
}


def _deltas(event: Mapping[str, Any]) -> list[tuple[Channel, Path]]:
    return [
        ((index(c, i),), ("choices", i, "text"))
        for i, c in enumerate(items(event.get("choices")))
        if isinstance(c, dict) and isinstance(c.get("text"), str)
    ]


def _closes(event: Mapping[str, Any]) -> tuple[Channel, ...]:
    return tuple(
        (index(c, i),)
        for i, c in enumerate(items(event.get("choices")))
        if isinstance(c, dict) and c.get("finish_reason")
    )


ENDPOINT = Endpoint(
    name="completions",
    title="text completions",
    capability="completions",
    routes=(Route("POST", "/v1/completions"),),
    request=REQUEST,
    answer=ANSWER,
    output_token_fields=("max_tokens",),
    stream=StreamFormat(deltas=_deltas, closes=_closes, shape=ANSWER, usage=count_usage, schema=ANSWER_SCHEMA),
    usage=count_usage,
    request_schema=REQUEST_SCHEMA,
    answer_schema=ANSWER_SCHEMA,
    answer_kinds=("json", "sse"),
)
