"""The few ASGI helpers the gateway needs: a request view, a bounded body reader, responses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from runtime.errors import ApiError

__all__ = ["Request", "Responder", "send_json"]

HeaderList = Sequence[tuple[bytes, bytes]]


class Request:
    __slots__ = ("_headers", "receive", "scope")

    def __init__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]]):
        self.scope = scope
        self.receive = receive
        self._headers: dict[str, str] | None = None

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    @property
    def headers(self) -> dict[str, str]:
        """Lower-case names; repeated headers joined with ", " (as RFC 9110 allows)."""
        if self._headers is None:
            out: dict[str, str] = {}
            for k, v in self.scope["headers"]:
                name, value = k.decode("latin-1").lower(), v.decode("latin-1")
                out[name] = f"{out[name]}, {value}" if name in out else value
            self._headers = out
        return self._headers

    @property
    def client_host(self) -> str | None:
        client = self.scope.get("client")
        return str(client[0]) if client else None

    @property
    def scheme(self) -> str:
        return str(self.scope.get("scheme", "http"))

    async def body(self, limit: int) -> bytes:
        """The whole body, or 413 as soon as it is known to exceed `limit` bytes (from
        Content-Length before reading anything, else while receiving)."""
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks, size = [], 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ApiError(499, "client disconnected", code="client_closed")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"request body exceeds {limit} bytes; shorten the conversation or split the request",
        code="request_too_large",
    )


class Responder:
    """Wraps `send` and remembers whether the response has started (after that, errors can only
    end the stream, not change the status)."""

    __slots__ = ("extra_headers", "send", "started")

    def __init__(self, send: Callable[[dict[str, Any]], Awaitable[None]]):
        self.send = send
        self.started = False
        # Headers every answer to this request carries, errors included (rate-limit state).
        self.extra_headers: list[tuple[bytes, bytes]] = []

    async def start(self, status: int, headers: HeaderList) -> None:
        self.started = True
        await self.send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, *self.extra_headers],
            }
        )

    async def body(self, data: bytes, more: bool = False) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": more})


async def send_json(responder: Responder, status: int, body: bytes, headers: HeaderList) -> None:
    await responder.start(
        status,
        [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    )
    await responder.body(body)
