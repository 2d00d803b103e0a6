"""The endpoints the gateway serves and where the texts of their requests and answers are.

Pure Python with no service dependencies: the gateway, its stream filter, the LiteLLM guardrail
and `gatewayctl policy eval` all read requests and answers through this package, so the policy
sees the same texts whichever route a request takes. Adding an endpoint is one entry in ENDPOINTS
(its module: routes, capability, shapes of request, answer and stream events, usage) and its rows
in the parity tests (tests/integration/test_endpoint_parity.py reads this table).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runtime.endpoints import (
    a2a,
    audio,
    chat,
    completions,
    embeddings,
    files,
    images,
    mcp,
    messages,
    moderations,
    rerank,
    responses,
)
from runtime.endpoints._types import ALL, Channel, Endpoint, Multipart, Route, StreamFormat, Usage
from runtime.endpoints._vocabulary import FIELD_NAMES
from runtime.endpoints._walk import Path, Reading, Text, Unreadable, field_name, read, set_path

__all__ = [
    "ALL",
    "ENDPOINTS",
    "Channel",
    "Endpoint",
    "FormFile",
    "Line",
    "LineError",
    "Match",
    "Multipart",
    "Path",
    "Reading",
    "Route",
    "StreamFormat",
    "Text",
    "Unreadable",
    "Usage",
    "answer_input",
    "field_name",
    "match",
    "path_is_known",
    "prompt_input",
    "read",
    "read_answer",
    "read_form",
    "read_jsonl",
    "read_params",
    "read_request",
    "read_text_answer",
    "set_path",
]

ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        chat.ENDPOINT,
        completions.ENDPOINT,
        responses.ENDPOINT,
        messages.ENDPOINT,
        embeddings.ENDPOINT,
        images.GENERATIONS,
        images.EDITS,
        audio.SPEECH,
        audio.TRANSCRIPTIONS,
        moderations.ENDPOINT,
        rerank.ENDPOINT,
        files.FILES,
        files.BATCHES,
        mcp.ENDPOINT,
        a2a.ENDPOINT,
    )
}


# --- routes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    endpoint: Endpoint
    route: Route
    params: Mapping[str, str]  # path parameters: {"file_id": "file-abc"}


def _compile(template: str) -> re.Pattern[str]:
    out, pos = "", 0
    for m in re.finditer(r"\{(\w+)(\*?)\}", template):
        out += re.escape(template[pos : m.start()])
        out += f"(?P<{m[1]}>.+)" if m[2] else f"(?P<{m[1]}>[^/]+)"
        pos = m.end()
    return re.compile(out + re.escape(template[pos:]) + r"\Z")


_STATIC: dict[tuple[str, str], tuple[Endpoint, Route]] = {}
_TEMPLATES: list[tuple[re.Pattern[str], Endpoint, Route]] = []
for _endpoint in ENDPOINTS.values():
    for _route in _endpoint.routes:
        if "{" in _route.path:
            _TEMPLATES.append((_compile(_route.path), _endpoint, _route))
        else:
            _STATIC[(_route.method, _route.path)] = (_endpoint, _route)


def match(method: str, path: str) -> Match | None:
    """The endpoint and route serving `method path`, or None."""
    found = _STATIC.get((method, path))
    if found is not None:
        return Match(found[0], found[1], {})
    for pattern, endpoint, route in _TEMPLATES:
        if route.method == method:
            m = pattern.match(path)
            if m is not None:
                return Match(endpoint, route, m.groupdict())
    return None


def path_is_known(path: str) -> bool:
    """Some method serves this path (so another method is a 405, not a 404)."""
    return any(match(method, path) for method in ("GET", "POST", "DELETE"))


# --- requests --------------------------------------------------------------------------------


def read_request(endpoint: Endpoint, body: Any) -> Reading:
    """Every text of a JSON request body."""
    return read(body, endpoint.request, known_keys=FIELD_NAMES)


def read_params(params: Mapping[str, str], query: Sequence[tuple[str, str]]) -> Reading:
    """Path parameters and query arguments are sent upstream too: read them as texts."""
    out = Reading()
    for name, value in params.items():
        out.texts.append(Text(("path", name), value))
    for i, (name, value) in enumerate(query):
        out.texts.append(Text(("query", i, name), name, is_key=True))
        out.texts.append(Text(("query", i, name), value))
    return out


@dataclass(frozen=True)
class FormFile:
    field: str
    filename: str
    content_type: str
    data: bytes


def read_form(endpoint: Endpoint, fields: Sequence[tuple[str, str]], files_: Sequence[FormFile]) -> Reading:
    """Every text of a multipart request: its fields (but enum values), the file names and content
    types, and each file's content where the policy can read it (text); other content is listed
    as unreadable. A batch input file is read by read_jsonl, not here."""
    form = endpoint.multipart or Multipart()
    out = Reading()
    for i, (name, value) in enumerate(fields):
        if name not in FIELD_NAMES:
            out.texts.append(Text(("form", i, name), name, is_key=True))
        if name == endpoint.model_field or value in form.enums.get(name, ()):
            continue
        out.texts.append(Text(("form", i, name), value))
    for i, f in enumerate(files_):
        where: Path = ("files", i, f.field)
        if f.field not in FIELD_NAMES:
            out.texts.append(Text(where, f.field, is_key=True))
        out.texts.append(Text((*where, "filename"), f.filename))
        out.texts.append(Text((*where, "content_type"), f.content_type))
        text = _as_text(f)
        if text is None:
            out.unreadable.append(Unreadable(where, form.files.get(f.field, "file")))
        else:
            out.texts.append(Text((*where, "content"), text))
    return out


_TEXT_TYPES = re.compile(r"^(text/|application/(json|jsonl|x-ndjson|xml|yaml|csv))")


def _as_text(f: FormFile) -> str | None:
    """The file's content when it is text (by its declared type and by decoding), else None."""
    if not _TEXT_TYPES.match(f.content_type.lower()) and not f.filename.lower().endswith(
        (".txt", ".md", ".json", ".jsonl", ".csv", ".tsv", ".xml", ".yaml", ".yml", ".srt", ".vtt")
    ):
        return None
    try:
        return f.data.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class Line:
    """One request of a batch input: its 1-based line number, the endpoint its URL names, its
    body, and what it carries (field names start with `line_<n>`)."""

    number: int
    endpoint: Endpoint
    request: Mapping[str, Any]  # the whole line: custom_id, method, url, body
    reading: Reading

    @property
    def body(self) -> Mapping[str, Any]:
        return self.request["body"]  # type: ignore[no-any-return]


class LineError(ValueError):
    """A batch input line that is not a request the gateway can read."""

    def __init__(self, number: int, message: str) -> None:
        super().__init__(f"line {number} of the batch input: {message}")
        self.number = number


def read_jsonl(data: bytes) -> list[Line]:
    """The requests of a batch input (JSON lines). Raises LineError for a line that is not JSON,
    not an object, or names a URL the batch API does not serve."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise LineError(1, "the file is not UTF-8 text") from None
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            raise LineError(number, "not a JSON object") from None
        if not isinstance(line, dict) or not isinstance(line.get("body"), dict):
            raise LineError(number, 'not a request object {"custom_id", "method", "url", "body"}')
        name = files.BATCH_URLS.get(str(line.get("url")))
        if name is None:
            raise LineError(number, f"url must be one of {', '.join(files.BATCH_URLS)}")
        endpoint = ENDPOINTS[name]
        prefix: Path = (f"line_{number}",)
        reading = read(
            {k: v for k, v in line.items() if k != "body"}, files.LINE, prefix=prefix, known_keys=FIELD_NAMES
        )
        reading.extend(read(line["body"], endpoint.request, prefix=(*prefix, "body"), known_keys=FIELD_NAMES))
        lines.append(Line(number, endpoint, line, reading))
    return lines


def prompt_input(endpoint: Endpoint, body: Mapping[str, Any] | Any, reading: Reading | None = None) -> dict[str, Any]:
    """The prompt policy's input for a request (docs/architecture.md, "Policy decision")."""
    reading = reading if reading is not None else read_request(endpoint, body)
    out: dict[str, Any] = {"endpoint": endpoint.name, "texts": [_text(t) for t in reading.texts]}
    if isinstance(body, Mapping):
        model = body.get(endpoint.model_field) if endpoint.model_field else None
        if isinstance(model, str):
            out["model"] = model
        requested = [(body[f], f) for f in endpoint.output_token_fields if _is_count(body.get(f))]
        if requested:
            count, name = max(requested)
            out["output_tokens"] = {"field": name, "requested": count}
    if reading.unreadable:
        out["unreadable"] = [{"field": u.field, "kind": u.kind} for u in reading.unreadable]
    return out


def _text(t: Text) -> dict[str, Any]:
    out = {"field": t.field, "text": t.text}
    if t.role is not None:
        out["role"] = t.role
    return out


def _is_count(value: Any) -> bool:
    return type(value) is int or (type(value) is float and value == value)


# --- answers ---------------------------------------------------------------------------------


def read_answer(endpoint: Endpoint, answer: Any, *, prefix: Path = ()) -> Reading:
    """Every text of a JSON answer."""
    return read(answer, endpoint.answer, prefix=prefix, known_keys=FIELD_NAMES)


def read_text_answer(body: str) -> Reading:
    """An answer that is plain text (a transcript as text, SRT or VTT): one text."""
    return Reading([Text(("body",), body)])


def answer_input(endpoint: Endpoint, texts: Iterable[Text], model: str | None) -> dict[str, Any]:
    """The output policy's input for the texts of an answer."""
    out: dict[str, Any] = {"endpoint": endpoint.name, "texts": [{"field": t.field, "text": t.text} for t in texts]}
    if model:
        out["model"] = model
    return out


del _endpoint, _route
