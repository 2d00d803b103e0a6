"""Shared pieces of the fake upstream: the answer type, SSE framing, multipart parsing, and the
reply settings every endpoint reads."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PRIMARY = "primary"


@dataclass
class Answer:
    """What the server writes back. `chunks` (not None) is a stream: each element is one HTTP
    chunk, sent as it is; otherwise `body` goes out with a content-length."""

    status: int = 200
    content_type: str = "application/json"
    body: bytes = b""
    chunks: list[bytes] | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Reply:
    """The reply settings of one request: the text, how it is cut into stream deltas, and the
    fields it goes into (`slots`; "primary" is each endpoint's main text field)."""

    text: str
    chunk_chars: int
    slots: frozenset[str]

    def has(self, slot: str, primary: bool = False) -> bool:
        return slot in self.slots or (primary and PRIMARY in self.slots)

    def pieces(self, text: str | None = None) -> list[str]:
        text = self.text if text is None else text
        n = max(1, self.chunk_chars)
        return [text[i : i + n] for i in range(0, len(text), n)] or [""]


def json_answer(data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Answer:
    return Answer(status, "application/json", dumps(data), headers=headers or [])


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def sse_data(data: Any) -> bytes:
    """One OpenAI-style event: `data: <json>` and a blank line."""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"data: {payload}\n\n".encode()


def sse_event(name: str, data: Any) -> bytes:
    """One named event (Anthropic, Responses API, MCP)."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def tokens(text: str) -> int:
    return max(1, len(text) // 4)


def error(status: int, message: str, kind: str = "invalid_request_error") -> Answer:
    return json_answer({"error": {"message": message, "type": kind, "param": None, "code": None}}, status)


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """multipart/form-data, enough for what httpx and the OpenAI SDK send."""
    boundary = ""
    for item in content_type.split(";"):
        key, _, value = item.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        return []
    parts = []
    for raw in body.split(b"--" + boundary.encode())[1:]:
        if raw.startswith(b"--"):
            break
        head, _, data = raw.lstrip(b"\r\n").partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        disposition = {}
        for item in headers.get("content-disposition", "").split(";")[1:]:
            k, _, v = item.strip().partition("=")
            disposition[k.lower()] = v.strip('"')
        data = data[:-2] if data.endswith(b"\r\n") else data
        parts.append(Part(disposition.get("name", ""), disposition.get("filename"), headers.get("content-type"), data))
    return parts


def describe_parts(parts: list[Part]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(form fields, files) as recorded: a field seen twice becomes a list; a file keeps its name,
    type, size and content (text when it decodes as UTF-8, else `content_b64`)."""
    import base64

    fields: dict[str, Any] = {}
    files = []
    for part in parts:
        if part.filename is None:
            value = part.data.decode("utf-8", "replace")
            if part.name in fields:
                previous = fields[part.name]
                fields[part.name] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                fields[part.name] = value
            continue
        entry: dict[str, Any] = {
            "field": part.name,
            "filename": part.filename,
            "content_type": part.content_type,
            "size": len(part.data),
        }
        try:
            entry["content"] = part.data.decode("utf-8")
        except UnicodeDecodeError:
            entry["content_b64"] = base64.b64encode(part.data).decode()
        files.append(entry)
    return fields, files
