"""OpenAI (legacy) completions (`/v1/completions`): `prompt` as a string, a list of strings, or
token ids (which no policy can read)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.endpoints._types import Channel, Endpoint, Route, StreamFormat
from runtime.endpoints._walk import Path, index, items, shape
from runtime.endpoints.chat import usage

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
    stream=StreamFormat(deltas=_deltas, closes=_closes, shape=ANSWER, usage=usage),
    usage=usage,
)
