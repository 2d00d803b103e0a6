"""What the endpoint table holds for each endpoint: data, no behaviour of its own."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from runtime.endpoints._walk import Path, Shape
from runtime.errors import ApiError

__all__ = [
    "ALL",
    "Channel",
    "Endpoint",
    "Multipart",
    "Route",
    "StreamFormat",
    "Usage",
    "openai_error",
    "openai_stream_error",
    "sse",
]

# (input tokens, output tokens) an answer reports
Usage = tuple[int, int]
# A channel of a stream: one text that arrives in pieces, e.g. (choice index, "content").
Channel = tuple[Hashable, ...]
# The prefix of every channel: an event that closes it ends the whole answer.
ALL: Channel = ()


@dataclass(frozen=True)
class StreamFormat:
    """Where an API's stream events carry text that arrives in pieces (deltas), so the filter can
    hold each piece back until the policy has seen it with the pieces around it. Every other string
    of an event is read whole, with `shape` saying which are enum values."""

    # (channel, path of the delta string inside the event) for each delta the event carries
    deltas: Callable[[Mapping[str, Any]], list[tuple[Channel, Path]]]
    # prefixes of the channels this event ends (ALL: every channel)
    closes: Callable[[Mapping[str, Any]], tuple[Channel, ...]]
    shape: Shape
    usage: Callable[[Mapping[str, Any]], Usage | None] = lambda _: None


@dataclass(frozen=True)
class Multipart:
    """A multipart/form-data request: which form fields are enum values (not texts) and what kind
    of content each file field holds when the policy cannot read it."""

    enums: Mapping[str, frozenset[str]] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)  # field -> unreadable kind (image, audio, file)
    # a file the policy reads line by line as requests of other endpoints (a batch input)
    jsonl_when: Callable[[Mapping[str, str]], bool] = lambda _: False


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # a template: "/v1/files/{file_id}"; "{rest*}" matches the rest of the path
    # what the route carries: "generate" reads the request and the answer; "read" carries no text
    # in its body (status, metadata, deletion) and is read for its path and query only
    kind: Literal["generate", "read"] = "generate"


def openai_error(error: ApiError) -> bytes:
    """{"error": {...}}: OpenAI's error body (the default)."""
    return error.body()


def openai_stream_error(error: ApiError) -> bytes:
    """The error event OpenAI-style streams end with instead of [DONE]."""
    return b"data: " + error.body() + b"\n\n"


@dataclass(frozen=True)
class Endpoint:
    name: str
    title: str  # for people (docs, GET /v1/models)
    capability: str | None  # what a model must offer; None: the endpoint names no model
    routes: tuple[Route, ...]
    body: Literal["json", "multipart", "none"] = "json"
    request: Shape = field(default_factory=Shape)
    answer: Shape = field(default_factory=Shape)
    output_token_fields: tuple[str, ...] = ()
    stream: StreamFormat | None = None
    # the request asks for a streamed answer
    streams: Callable[[Mapping[str, Any]], bool] = lambda body: body.get("stream") is True
    usage: Callable[[Mapping[str, Any]], Usage | None] = lambda _: None
    multipart: Multipart | None = None
    # JSON-RPC endpoints (MCP, A2A) carry no model; their target is in the path
    model_field: str | None = "model"
    # headers passed to the upstream and back, beside the gateway's own (MCP sessions)
    forward_headers: tuple[str, ...] = ()
    return_headers: tuple[str, ...] = ()
    # the API's own error body and the event a stream ends with when it is cut short
    error_body: Callable[[ApiError], bytes] = openai_error
    stream_error: Callable[[ApiError], bytes] = openai_stream_error
    # checks of the body before any policy runs: raises ApiError(400) naming the parameter
    validate: Callable[[Any], None] = lambda _: None
    # a refusal by policy that the API reports inside a 200 answer (MCP: a tool result with
    # isError), given the request body; None: an HTTP error like any other
    in_band_refusal: Callable[[Any, ApiError], bytes] | None = None


def sse(name: str | None, data: Mapping[str, Any]) -> bytes:
    head = f"event: {name}\n" if name else ""
    return (head + "data: " + json.dumps(data) + "\n\n").encode()
