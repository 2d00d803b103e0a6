"""OpenAI-style error answers: `{"error": {"message", "type", "code", "param", ...}}` plus headers.

One type for the gateway and the LiteLLM guardrail (which turns it into its framework's
exception), with no dependency beyond the standard library. Messages say what to do next; they
never quote the request's text: a blocked prompt is named by policy, version and categories only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["ApiError", "bad_answer", "retry_after"]


def retry_after(seconds: float) -> tuple[bytes, bytes]:
    """The Retry-After header: whole seconds (the only form HTTP allows), at least one."""
    return (b"retry-after", str(max(1, math.ceil(seconds))).encode())


class ApiError(Exception):
    """A refusal with its HTTP status; raised anywhere on the request path."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str,
        param: str | None = None,
        headers: Sequence[tuple[bytes, bytes]] = (),
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.headers = list(headers)
        self.extra = extra

    def error(self) -> dict[str, Any]:
        """The inner error object."""
        return {"message": self.message, "type": self.type, "code": self.code, "param": self.param, **self.extra}

    def body(self) -> bytes:
        return json.dumps({"error": self.error()}).encode()


def bad_answer(what: str, *, rest: bool = False) -> ApiError:
    """The upstream sent something no policy can read or no API sends: withheld (502). `rest`: it
    came mid-stream, so the rest of the answer is withheld."""
    withheld = "the rest of the answer was withheld" if rest else "the answer was withheld"
    return ApiError(
        502, f"the model provider sent {what}; {withheld}", type_="service_unavailable", code="upstream_bad_answer"
    )
