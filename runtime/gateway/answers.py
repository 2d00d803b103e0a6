"""A whole (not streamed) answer from the upstream, read by its content type and put through the
output policy: JSON and JSON lines by the endpoint's answer shape, SSE (an MCP server may answer a
POST with events) event by event, plain text (a transcript, subtitles) as one text. Audio, images
and other bytes no policy reads pass as they are; content of a type the gateway does not know is
refused when the output policy could act on it. Redactions are written into the answer, which is
then serialised again; a block raises the policy refusal.

The upstream is not trusted to be well-formed: a successful answer must be of a kind the endpoint
answers with (JSON for chat, audio for speech…), strict JSON (runtime/endpoints/_json.py) of the
endpoint's answer schema (usage counts are non-negative integers, the model a name), and a model
name that becomes the x-model-used header must be printable ASCII. Anything else is a 502 saying
what was wrong, never a 500 or a dropped connection."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from runtime.endpoints import (
    Endpoint,
    JsonError,
    SchemaError,
    Text,
    Usage,
    answer_input,
    loads,
    read,
    read_answer,
    set_path,
    validate_answer,
    validate_event,
)
from runtime.endpoints._vocabulary import FIELD_NAMES
from runtime.endpoints.sse import parse_events
from runtime.errors import bad_answer
from runtime.gateway.context import Context, PolicyEngine
from runtime.policy.decision import Verdict, blocked_error, redact_texts

__all__ = ["Answer", "content_kind", "judge_answer", "parse_answer"]

_JSON = re.compile(r"^application/([\w.+-]+\+)?json$")
_JSONL = ("application/jsonl", "application/x-ndjson", "application/x-jsonlines")
_TEXT = ("text/plain", "text/vtt", "text/srt", "application/x-subrip")
_BINARY = re.compile(r"^(audio|image|video)/|^application/(octet-stream|pdf|zip)$")
_PRINTABLE = re.compile(r"^[\x20-\x7e]{1,256}$")


@dataclass
class Answer:
    """An answer as read: its kind, the parsed documents and their texts; once judged, the body
    the client gets and the output policy's verdict."""

    status: int
    content_type: str
    body: bytes
    kind: str
    docs: list[Any]  # one JSON document, or one per line, or (name, data, parsed) per SSE event
    texts: list[Text]
    usage: Usage | None
    model: str | None
    verdict: Verdict | None = None


def content_kind(content_type: str) -> str:
    """json | jsonl | sse | text | binary | unknown, from a Content-Type header."""
    media = content_type.split(";", 1)[0].strip().lower()
    if _JSON.match(media):
        return "json"
    if media in _JSONL:
        return "jsonl"
    if media == "text/event-stream":
        return "sse"
    if media in _TEXT:
        return "text"
    if _BINARY.match(media):
        return "binary"
    return "unknown"


def parse_answer(
    endpoint: Endpoint,
    *,
    status: int,
    content_type: str,
    payload: bytes,
    model: str | None,
    jsonl: bool = False,
    read_texts: bool = True,
) -> Answer:
    """The answer read by its content type. `jsonl`: bytes that may be JSON lines (a file's content).
    `read_texts`: list its texts (not when the output policy is off: nothing would read them).
    An error answer (4xx) that is not a JSON object comes back as kind "unknown": the caller
    replaces it with its own error."""
    # no content: a 202 or 204, or an endpoint that may answer with nothing (an MCP notification)
    empty = not payload and (status in (202, 204) or "empty" in endpoint.answer_kinds)
    kind = "empty" if empty else content_kind(content_type)
    if jsonl and kind in ("binary", "unknown", "jsonl", "text"):
        kind = "jsonl" if _jsonl(payload) is not None else "binary"
    ok = status < 300
    if ok and kind not in (*endpoint.answer_kinds, "empty"):
        media = content_type.split(";")[0].strip()[:64] or "none"
        shown = media if _PRINTABLE.match(media) else "unprintable"
        raise bad_answer(f"content of type {shown!r}, which the {endpoint.title} API does not answer with")
    docs: list[Any] = []  # the parsed answer: one document, or one per event or line
    texts: list[Text] = []
    usage: Usage | None = None
    if kind == "json":
        try:
            docs = [loads(payload)]
        except JsonError as exc:
            if not ok:
                return Answer(status, content_type, payload, "unknown", [], [], None, model)
            raise bad_answer(f"JSON that is not strict JSON ({exc.message})") from None
        if not ok and not isinstance(docs[0], dict):
            return Answer(status, content_type, payload, "unknown", [], [], None, model)
        if ok:
            _check(validate_answer, endpoint, docs[0])
        if read_texts:
            texts = read_answer(endpoint, docs[0]).texts
        if isinstance(docs[0], dict):
            usage = endpoint.usage(docs[0])
            model = _model(docs[0].get("model"), model)
    elif kind == "jsonl":
        docs = _jsonl(payload) or []
        for n, doc in enumerate(docs):
            texts += read_answer(endpoint, doc, prefix=(f"line_{n + 1}",)).texts
    elif kind == "sse":
        events, _, _ = parse_events(payload + b"\n\n")
        shape = endpoint.stream.shape if endpoint.stream else endpoint.answer
        sse: list[tuple[str | None, Any, bool]] = []  # (event name, data, whether data is parsed JSON)
        for n, event in enumerate(events):
            data: Any = event.data
            parsed = data is not None and data.strip() != "[DONE]"
            if parsed:
                try:
                    data = loads(data.encode())
                except JsonError as exc:
                    raise bad_answer(f"an event that is not strict JSON ({exc.message})") from None
                if ok:
                    _check(lambda e, d: validate_event(e.stream, d), endpoint, data)
                texts += read(data, shape, prefix=(f"event_{n}",), known_keys=FIELD_NAMES).texts
            if event.name is not None:
                texts.append(Text((f"event_{n}", "event"), event.name))
            sse.append((event.name, data, parsed))
        docs = sse
    elif kind == "text":
        try:
            texts = [Text(("body",), payload.decode("utf-8"))]
        except UnicodeDecodeError:
            raise bad_answer("text that is not UTF-8") from None
    out_type = {"json": "application/json", "jsonl": "application/jsonl", "sse": "text/event-stream"}.get(
        kind, content_type if _PRINTABLE.match(content_type) else "application/octet-stream"
    )
    return Answer(status, out_type, payload, kind, docs, texts if read_texts else [], usage, model)


async def judge_answer(
    ctx: Context, engine: PolicyEngine, endpoint: Endpoint, answer: Answer, earlier: Sequence[Verdict]
) -> Answer:
    """The output policy on the answer's texts: the body the client gets (redacted where the
    verdict says so, written from what was read), or the refusal."""
    if answer.kind == "unknown" and answer.body and not ctx.output_cannot_act(engine):
        media = answer.content_type.split(";")[0]
        raise bad_answer(f"content of type {media!r}, which the output policy cannot read")
    payload = answer.body
    if answer.texts:
        verdict = await ctx.decide(
            engine, "output", answer_input(endpoint, answer.texts, answer.model), can_redact=True
        )
        if not verdict.passes:
            raise blocked_error(verdict, earlier)
        answer.verdict = verdict
        if verdict.action == "redact":
            payload = _redact(answer.kind, answer.docs, answer.texts, verdict, payload)
    if answer.kind in ("json", "jsonl", "sse"):
        # Sent as parsed (and read), never the upstream's bytes: a duplicate key or an SSE comment
        # cannot carry what the policy did not see.
        payload = _serialize(answer.kind, answer.docs)
    answer.body = payload
    return answer


def _check(validate: Any, endpoint: Endpoint, doc: Any) -> None:
    try:
        validate(endpoint, doc)
    except SchemaError as exc:
        raise bad_answer(f"an answer the {endpoint.title} API does not give: {exc.message}") from None


def _model(found: Any, asked: str | None) -> str | None:
    """The model the answer names (for x-model-used), or the one asked for when it names none."""
    if found is None or found == "":
        return asked
    if not isinstance(found, str) or not _PRINTABLE.match(found):
        raise bad_answer("a model name that is not printable ASCII (it would become the x-model-used header)")
    return found


def _jsonl(payload: bytes) -> list[Any] | None:
    try:
        lines = payload.decode("utf-8").splitlines()
        return [loads(line.encode()) for line in lines if line.strip()]
    except ValueError:
        return None


def _redact(kind: str, docs: list[Any], texts: list[Text], verdict: Verdict, payload: bytes) -> bytes:
    """Write the verdict's redactions into docs (or, for plain text, return the redacted text)."""
    by_field = {t.field: t for t in texts}
    try:
        new = redact_texts({f: t.text for f, t in by_field.items()}, verdict.redactions)
        if kind == "text":
            return new["body"].encode()
        roots = {f"{'event' if kind == 'sse' else 'line'}_{n + (kind == 'jsonl')}": n for n in range(len(docs))}
        for name, text in new.items():
            t = by_field[name]
            if t.is_key or (kind == "sse" and t.path[-1:] == ("event",)):
                raise ValueError("a key cannot be redacted")
            if kind == "json":
                _set(docs, (0, *t.path), text)
                continue
            position = roots[str(t.path[0])]
            if len(t.path) == 1:  # the document is the string itself
                docs[position] = (*docs[position][:1], text, True) if kind == "sse" else text
            else:
                set_path(docs[position][1] if kind == "sse" else docs[position], t.path[1:], text)
    except (ValueError, KeyError, IndexError, TypeError):
        raise blocked_error(verdict) from None
    return payload


def _serialize(kind: str, docs: list[Any]) -> bytes:
    if kind == "json":
        return orjson.dumps(docs[0])
    if kind == "jsonl":
        return b"".join(orjson.dumps(d) + b"\n" for d in docs)
    events = []
    for name, data, parsed in docs:
        lines = [f"event: {name}"] if name is not None else []
        if data is not None:
            lines.append("data: " + (orjson.dumps(data).decode() if parsed else str(data).strip()))
        events.append("\n".join(lines) + "\n\n")
    return "".join(events).encode()


def _set(docs: list[Any], path: tuple[Any, ...], value: str) -> None:
    node: Any = docs
    for segment in path[:-1]:
        node = node[segment]
    node[path[-1]] = value
