"""The endpoints the gateway serves and where the texts of their requests and answers are.

Pure Python with no service dependencies: the gateway, its stream filter, the LiteLLM guardrail
and `gatewayctl policy eval` all read requests and answers through this package, so the policy
sees the same texts whichever route a request takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runtime.endpoints import chat
from runtime.endpoints._walk import Path, Reading, Shape, Text, Unreadable, field_name, read, set_path

__all__ = [
    "ENDPOINTS",
    "Endpoint",
    "Path",
    "Reading",
    "Text",
    "Unreadable",
    "answer_input",
    "field_name",
    "prompt_input",
    "read_answer",
    "read_request",
    "set_path",
]


@dataclass(frozen=True)
class Endpoint:
    name: str
    capability: str | None
    request: Shape
    answer: Shape
    output_token_fields: tuple[str, ...] = ()


ENDPOINTS: dict[str, Endpoint] = {
    "chat": Endpoint("chat", "chat", chat.REQUEST, chat.ANSWER, chat.OUTPUT_TOKEN_FIELDS),
}


def read_request(endpoint: Endpoint, body: Mapping[str, Any]) -> Reading:
    return read(body, endpoint.request)


def read_answer(endpoint: Endpoint, answer: Any) -> Reading:
    return read(answer, endpoint.answer)


def prompt_input(endpoint: Endpoint, body: Mapping[str, Any], reading: Reading | None = None) -> dict[str, Any]:
    """The prompt policy's input for a request (docs/architecture.md, "Policy decision")."""
    reading = reading if reading is not None else read_request(endpoint, body)
    out: dict[str, Any] = {
        "endpoint": endpoint.name,
        "texts": [_text(t) for t in reading.texts],
    }
    model = body.get("model")
    if isinstance(model, str):
        out["model"] = model
    if reading.unreadable:
        out["unreadable"] = [{"field": u.field, "kind": u.kind} for u in reading.unreadable]
    requested = [(body[f], f) for f in endpoint.output_token_fields if _is_count(body.get(f))]
    if requested:
        count, name = max(requested)
        out["output_tokens"] = {"field": name, "requested": count}
    return out


def answer_input(endpoint: Endpoint, texts: list[Text], model: str) -> dict[str, Any]:
    """The output policy's input for the texts of an answer."""
    return {"endpoint": endpoint.name, "model": model, "texts": [{"field": t.field, "text": t.text} for t in texts]}


def _text(t: Text) -> dict[str, Any]:
    out = {"field": t.field, "text": t.text}
    if t.role is not None:
        out["role"] = t.role
    return out


def _is_count(value: Any) -> bool:
    return type(value) is int or (type(value) is float and value == value)
