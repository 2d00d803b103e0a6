"""OpenAI images (`/v1/images/generations`, `/v1/images/edits`): the prompt goes through the
prompt policy, `revised_prompt` and URLs through the output policy; the images themselves (base64)
cannot be read. Seed 003's payload policy (URLs by default, base64 only where the backend allows
it, size caps) is the gateway's, in runtime/gateway/payload.py."""

from __future__ import annotations

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

GENERATIONS = Endpoint(
    name="images_generations",
    title="image generation",
    capability="images",
    routes=(Route("POST", "/v1/images/generations"),),
    request=REQUEST,
    answer=ANSWER,
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
)
