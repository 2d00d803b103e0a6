"""OpenAI-style error answers: `{"error": {"message", "type", "code", "param"}}` plus headers.

Messages say what to do next. They never quote the request's text: a blocked prompt is named by
policy, version and violation categories only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["GatewayError", "error_body"]


def error_body(message: str, type_: str, code: str, param: str | None = None, **extra: Any) -> bytes:
    err: dict[str, Any] = {"message": message, "type": type_, "code": code, "param": param}
    err.update(extra)
    return json.dumps({"error": err}).encode()


class GatewayError(Exception):
    """Raised anywhere on the request path; the app turns it into the JSON answer."""

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

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.code, self.param, **self.extra)
