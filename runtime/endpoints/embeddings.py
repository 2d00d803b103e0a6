"""OpenAI embeddings (`/v1/embeddings`): `input` as a string, a list of strings, or token ids (which
no policy can read: `policies.prompt.unreadable.token_ids` decides). The answer holds vectors, no
text; a base64-encoded vector is not text either."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
)
