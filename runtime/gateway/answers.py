"""A whole (not streamed) answer from the upstream, read by its content type and put through the
output policy: JSON and JSON lines by the endpoint's answer shape, SSE (an MCP server may answer a
POST with events) event by event, plain text (a transcript, subtitles) as one text. Audio, images
and other bytes no policy reads pass as they are; content of a type the gateway does not know is
refused when the output policy could act on it. Redactions are written into the answer, which is
then serialised again; a block raises the policy refusal."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runtime.endpoints import Endpoint, Text, Usage, answer_input, read, read_answer, set_path
from runtime.endpoints._vocabulary import FIELD_NAMES
from runtime.errors import ApiError
from runtime.gateway.context import Context, PolicyEngine
from runtime.gateway.streaming import parse_events
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


def _bad_answer(what: str) -> ApiError:
    return ApiError(
        502,
        f"the model provider sent {what}; the answer was withheld",
        type_="service_unavailable",
        code="upstream_bad_answer",
    )


def parse_answer(
    endpoint: Endpoint,
    *,
    status: int,
    content_type: str,
    payload: bytes,
    model: str | None,
    jsonl: bool = False,
) -> Answer:
    """The answer read by its content type. `jsonl`: bytes that may be JSON lines (a file's content)."""
    kind = content_kind(content_type)
    if jsonl and kind in ("binary", "unknown", "jsonl", "text"):
        kind = "jsonl" if _jsonl(payload) is not None else "binary"
    docs: list[Any] = []  # the parsed answer: one document, or one per event or line
    texts: list[Text] = []
    usage: Usage | None = None
    if kind == "json":
        try:
            docs = [json.loads(payload)]
        except ValueError:
            raise _bad_answer("JSON that does not parse") from None
        texts = read_answer(endpoint, docs[0]).texts
        if isinstance(docs[0], dict):
            usage = endpoint.usage(docs[0])
            found = docs[0].get("model")
            model = found if isinstance(found, str) and _PRINTABLE.match(found) else model
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
                    data = json.loads(data)
                except ValueError:
                    raise _bad_answer("an event that is not JSON") from None
                texts += read(data, shape, prefix=(f"event_{n}",), known_keys=FIELD_NAMES).texts
            if event.name is not None:
                texts.append(Text((f"event_{n}", "event"), event.name))
            sse.append((event.name, data, parsed))
        docs = sse
    elif kind == "text":
        try:
            texts = [Text(("body",), payload.decode("utf-8"))]
        except UnicodeDecodeError:
            raise _bad_answer("text that is not UTF-8") from None
    out_type = {"json": "application/json", "jsonl": "application/jsonl", "sse": "text/event-stream"}.get(
        kind, content_type if _PRINTABLE.match(content_type) else "application/octet-stream"
    )
    return Answer(status, out_type, payload, kind, docs, texts, usage, model)


async def judge_answer(
    ctx: Context, engine: PolicyEngine, endpoint: Endpoint, answer: Answer, earlier: Sequence[Verdict]
) -> Answer:
    """The output policy on the answer's texts: the body the client gets (redacted where the
    verdict says so, written from what was read), or the refusal."""
    if answer.kind == "unknown" and answer.body and not ctx.output_cannot_act(engine, answer.model):
        media = answer.content_type.split(";")[0]
        raise _bad_answer(f"content of type {media!r}, which the output policy cannot read")
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


def _jsonl(payload: bytes) -> list[Any] | None:
    try:
        lines = payload.decode("utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
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
        return json.dumps(docs[0], ensure_ascii=False).encode()
    if kind == "jsonl":
        return "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs).encode()
    events = []
    for name, data, parsed in docs:
        lines = [f"event: {name}"] if name is not None else []
        if data is not None:
            lines.append("data: " + (json.dumps(data, ensure_ascii=False) if parsed else str(data).strip()))
        events.append("\n".join(lines) + "\n\n")
    return "".join(events).encode()


def _set(docs: list[Any], path: tuple[Any, ...], value: str) -> None:
    node: Any = docs
    for segment in path[:-1]:
        node = node[segment]
    node[path[-1]] = value
