"""OpenAI moderations (`/v1/moderations`): `input` as text, a list of texts, or parts (text and
image URLs). The answer's categories are field names, not text."""

from __future__ import annotations

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

ENDPOINT = Endpoint(
    name="moderations",
    title="moderations",
    capability="moderations",
    routes=(Route("POST", "/v1/moderations"),),
    request=REQUEST,
    answer=ANSWER,
)
