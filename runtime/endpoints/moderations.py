"""OpenAI moderations (`/v1/moderations`): `input` as text, a list of texts, or parts (text and
image URLs). The answer's categories are field names, not text."""

from __future__ import annotations

from runtime.endpoints._schema import STRING, parts
from runtime.endpoints._types import Endpoint, Route
from runtime.endpoints._walk import data_uri, shape

__all__ = ["ENDPOINT"]

REQUEST = shape(
    {
        "model": {"skip": True},
        "input[].type": {"enum": ("text", "image_url")},
        "input[].image_url.url": {"binary": ("image", data_uri)},
    }
)

ANSWER = shape({"results[].category_applied_input_types.*[]": {"enum": ("text", "image")}})

_PART = parts(
    "type",
    ("text", "image_url"),
    {
        "text": {"required": ["text"], "properties": {"text": STRING}},
        "image_url": {
            "required": ["image_url"],
            "properties": {"image_url": {"type": "object", "required": ["url"], "properties": {"url": STRING}}},
        },
    },
)

REQUEST_SCHEMA = {
    "title": "moderation request",
    "type": "object",
    "required": ["input"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        # a text, texts, or parts (text and images)
        "input": {"type": ["string", "array"], "minItems": 1, "items": {**_PART, "type": ["string", "object"]}},
    },
}

ANSWER_SCHEMA = {
    "title": "moderation",
    "type": "object",
    "properties": {"id": STRING, "model": STRING, "results": {"type": "array", "items": {"type": "object"}}},
}

ENDPOINT = Endpoint(
    name="moderations",
    title="moderations",
    capability="moderations",
    routes=(Route("POST", "/v1/moderations"),),
    request=REQUEST,
    answer=ANSWER,
    request_schema=REQUEST_SCHEMA,
    answer_schema=ANSWER_SCHEMA,
)
