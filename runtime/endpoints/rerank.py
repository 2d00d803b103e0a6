"""Rerank (`/v1/rerank`, Cohere's shape as LiteLLM serves it): the query and every document go
through the prompt policy; the documents the answer returns through the output policy."""

from __future__ import annotations

from runtime.endpoints._types import Endpoint, Route
from runtime.endpoints._walk import shape

__all__ = ["ENDPOINT"]

ENDPOINT = Endpoint(
    name="rerank",
    title="rerank",
    capability="rerank",
    routes=(Route("POST", "/v1/rerank"),),
    request=shape({"model": {"skip": True}}),
    answer=shape({}),
)
