"""OpenAI embeddings (`/v1/embeddings`): `input` as a string, a list of strings, or token ids (which
no policy can read: `policies.prompt.unreadable.token_ids` decides). The answer holds vectors, no
text; a base64-encoded vector is not text either."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.endpoints._schema import POSITIVE, STRING, nullable
from runtime.endpoints._schema import usage as usage_schema
from runtime.endpoints._types import Endpoint, Route, Usage
from runtime.endpoints._walk import shape

__all__ = ["ENDPOINT"]

REQUEST = shape(
    {
        "model": {"skip": True},
        "input": {"tokens": True},
        "input[]": {"tokens": True},
        "encoding_format": {"enum": ("float", "base64")},
    }
)

ANSWER = shape(
    {
        "object": {"enum": ("list",)},
        "data[].object": {"enum": ("embedding",)},
        "data[].embedding": {"binary": "embedding"},
    }
)

REQUEST_SCHEMA = {
    "title": "embeddings request",
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        # a text, texts, token ids, or lists of token ids; never empty
        "input": {
            "type": ["string", "array"],
            "minItems": 1,
            "items": {"type": ["string", "integer", "array"], "items": {"type": "integer"}},
        },
        "encoding_format": nullable(STRING),
        "dimensions": {**POSITIVE, "maximum": 65536},
        "user": nullable(STRING),
    },
}

ANSWER_SCHEMA = {
    "title": "embeddings",
    "type": "object",
    "properties": {
        "model": STRING,
        "data": {
            "type": "array",
            "items": {"type": "object", "properties": {"embedding": {"type": ["array", "string"]}}},
        },
        "usage": usage_schema("prompt_tokens", "total_tokens"),
    },
}


def usage(answer: Mapping[str, Any]) -> Usage | None:
    u = answer.get("usage")
    if not isinstance(u, dict):
        return None
    tokens = u.get("prompt_tokens")
    return (tokens if type(tokens) is int and tokens >= 0 else 0), 0


ENDPOINT = Endpoint(
    name="embeddings",
    title="embeddings",
    capability="embeddings",
    routes=(Route("POST", "/v1/embeddings"),),
    request=REQUEST,
    answer=ANSWER,
    usage=usage,
    request_schema=REQUEST_SCHEMA,
    answer_schema=ANSWER_SCHEMA,
)
