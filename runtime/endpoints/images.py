"""OpenAI images (`/v1/images/generations`, `/v1/images/edits`): the prompt goes through the
prompt policy, `revised_prompt` and URLs through the output policy; the images themselves (base64)
cannot be read. Seed 003's payload policy (URLs by default, base64 only where the backend allows
it, size caps) is the gateway's, in runtime/gateway/payload.py."""

from __future__ import annotations

from runtime.endpoints._schema import (
    BOOLEAN,
    FILE,
    FORM_BOOLEAN,
    FORM_INTEGER,
    INTEGER,
    POSITIVE,
    STRING,
    nullable,
    usage,
)
from runtime.endpoints._types import Endpoint, Multipart, Route
from runtime.endpoints._walk import shape

__all__ = ["EDITS", "GENERATIONS"]

_ENUMS = {
    "response_format": ("url", "b64_json"),
    "size": ("256x256", "512x512", "1024x1024", "1536x1024", "1024x1536", "1792x1024", "1024x1792", "auto"),
    "quality": ("standard", "hd", "low", "medium", "high", "auto"),
    "style": ("vivid", "natural"),
    "background": ("transparent", "opaque", "auto"),
    "moderation": ("low", "auto"),
    "output_format": ("png", "jpeg", "webp"),
    "input_fidelity": ("low", "high"),
}

REQUEST = shape({"model": {"skip": True}, **{name: {"enum": values} for name, values in _ENUMS.items()}})

ANSWER = shape(
    {
        "data[].b64_json": {"binary": "image"},
        **{
            name: {"enum": values}
            for name, values in _ENUMS.items()
            if name in ("size", "quality", "background", "output_format")
        },
    }
)

_OPTIONS = {name: nullable(STRING) for name in _ENUMS}

GENERATIONS_SCHEMA = {
    "title": "image generation request",
    "type": "object",
    "required": ["prompt"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "prompt": STRING,
        "n": {**POSITIVE, "maximum": 10},
        **_OPTIONS,
        "output_compression": {**INTEGER, "minimum": 0, "maximum": 100},
        "partial_images": {**INTEGER, "minimum": 0, "maximum": 3},
        "stream": BOOLEAN,
        "user": nullable(STRING),
    },
}

EDITS_SCHEMA = {
    "title": "image edit request (multipart/form-data)",
    "type": "object",
    "required": ["prompt"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "prompt": STRING,
        "image": FILE,
        "image[]": FILE,
        "mask": FILE,
        "n": {"type": "string", "pattern": "^([1-9]|10)$"},
        **{name: STRING for name in _ENUMS},
        "output_compression": FORM_INTEGER,
        "partial_images": {"type": "string", "pattern": "^[0-3]$"},
        "stream": FORM_BOOLEAN,
        "user": STRING,
    },
    # one image at least, under either name
    "anyOf": [{"required": ["image"]}, {"required": ["image[]"]}],
}

ANSWER_SCHEMA = {
    "title": "images",
    "type": "object",
    "properties": {
        "created": INTEGER,
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                # LiteLLM writes the absent one of url and b64_json as null
                "properties": {
                    "url": nullable(STRING),
                    "b64_json": nullable(STRING),
                    "revised_prompt": nullable(STRING),
                },
            },
        },
        "usage": usage("input_tokens", "output_tokens", "total_tokens"),
    },
}

GENERATIONS = Endpoint(
    name="images_generations",
    title="image generation",
    capability="images",
    routes=(Route("POST", "/v1/images/generations"),),
    request=REQUEST,
    answer=ANSWER,
    request_schema=GENERATIONS_SCHEMA,
    answer_schema=ANSWER_SCHEMA,
)

EDITS = Endpoint(
    name="images_edits",
    title="image edits",
    capability="images",
    routes=(Route("POST", "/v1/images/edits"),),
    body="multipart",
    multipart=Multipart(
        enums={name: frozenset(values) for name, values in _ENUMS.items()},
        files={"image": "image", "image[]": "image", "mask": "image"},
    ),
    answer=ANSWER,
    request_schema=EDITS_SCHEMA,
    answer_schema=ANSWER_SCHEMA,
)
