"""Rerank (`/v1/rerank`, Cohere's shape as LiteLLM serves it): the query and every document go
through the prompt policy; the documents the answer returns through the output policy."""

from __future__ import annotations

from runtime.endpoints._schema import BOOLEAN, INTEGER, POSITIVE, STRING, nullable
from runtime.endpoints._types import Endpoint, Route
from runtime.endpoints._walk import shape

__all__ = ["ENDPOINT"]

REQUEST_SCHEMA = {
    "title": "rerank request",
    "type": "object",
    "required": ["model", "query", "documents"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "query": STRING,
        # texts, or objects with their fields (rank_fields names which)
        "documents": {"type": "array", "minItems": 1, "items": {"type": ["string", "object"]}},
        "top_n": POSITIVE,
        "return_documents": BOOLEAN,
        "rank_fields": {"type": ["array", "null"], "items": STRING},
        "max_chunks_per_doc": POSITIVE,
        "max_tokens_per_doc": POSITIVE,
    },
}

ANSWER_SCHEMA = {
    "title": "rerank",
    "type": "object",
    "properties": {
        "id": nullable(STRING),
        "results": {
            "type": "array",
            "items": {"type": "object", "properties": {"index": INTEGER, "relevance_score": {"type": "number"}}},
        },
    },
}

ENDPOINT = Endpoint(
    name="rerank",
    title="rerank",
    capability="rerank",
    routes=(Route("POST", "/v1/rerank"),),
    request=shape({"model": {"skip": True}}),
    answer=shape({}),
    request_schema=REQUEST_SCHEMA,
    answer_schema=ANSWER_SCHEMA,
)
