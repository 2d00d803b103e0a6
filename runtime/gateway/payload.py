"""Seed 003's payload policy for images: answers are URLs unless the client asks for base64, base64
only where the backend's payload policy allows it, and no base64 image larger than its cap."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

from runtime.errors import ApiError
from runtime.settings import BackendSettings

__all__ = ["check_images_answer", "images_request"]


def images_request(body: MutableMapping[str, Any], backend: BackendSettings) -> None:
    """Ask for URLs when the client did not say; refuse base64 where the backend does not allow it."""
    wanted = body.get("response_format")
    if wanted is None:
        body["response_format"] = "url"
    elif wanted == "b64_json" and backend.images_format != "b64_json":
        raise ApiError(
            400,
            f"backend {backend.name!r} serves images as URLs only (its payload policy); "
            'leave response_format out or ask for "url"',
            code="payload_policy",
            param="response_format",
        )


def check_images_answer(payload: bytes, backend: BackendSettings) -> None:
    """A base64 image where the payload policy allows none, or larger than its cap, is withheld."""
    try:
        answer = json.loads(payload)
    except ValueError:
        return  # not JSON: the answer check says so
    images = answer.get("data") if isinstance(answer, dict) else None
    for image in images if isinstance(images, list) else []:
        data = image.get("b64_json") if isinstance(image, dict) else None
        if not isinstance(data, str):
            continue
        if backend.images_format != "b64_json":
            raise _withheld(f"backend {backend.name!r} sent a base64 image; its payload policy allows URLs only")
        if backend.max_image_bytes is not None and len(data) * 3 // 4 > backend.max_image_bytes:
            raise _withheld(
                f"an image is larger than the {backend.max_image_bytes} bytes backend {backend.name!r} allows"
            )


def _withheld(message: str) -> ApiError:
    return ApiError(502, f"{message}; the answer was withheld", type_="service_unavailable", code="payload_policy")
