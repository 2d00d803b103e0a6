"""A streamed answer inside LiteLLM, as the output policy reads it. LiteLLM hands the iterator hook
objects (chat and completions chunks, Responses events, A2A events) or, for Anthropic messages,
the raw bytes of the event stream cut anywhere. Either way each event is read with the endpoint's
stream format: text that arrives in pieces (a delta) is read as one text per channel, so a secret
split across chunks is whole for the policy; every other string is read whole, once per stream.

A redaction of a channel puts the redacted text into the channel's first piece and empties the
others, so the client reassembles exactly the redacted text; any other string is redacted where it
is. What cannot be read (an event that is not JSON, an object that does not serialise) raises
Unparsable. The caller decides when to release what was held.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from litellm.types.llms.base import BaseLiteLLMOpenAIResponseObject
from litellm.types.utils import ModelResponse, ModelResponseStream, TextCompletionResponse

from runtime.endpoints import ENDPOINTS, Channel, Endpoint, Path, StreamFormat, Text, field_name, read
from runtime.endpoints._vocabulary import FIELD_NAMES
from runtime.endpoints.sse import SseEvent, parse_events
from runtime.errors import ApiError
from runtime.litellm_guardrail._answers import ANY_ANSWER, NO_DELTAS
from runtime.litellm_guardrail._documents import Unparsable, json_form, set_text, text_at
from runtime.policy.decision import Verdict, apply_redactions

__all__ = ["AnswerStream"]



@dataclass(eq=False)
class _Event:
    """One event of the stream: its JSON form as read, and where a redaction is written (the
    LiteLLM object it came as, or for an event stream of bytes the parsed data itself)."""

    doc: Any
    target: Any
    name: str | None = None  # the SSE event name (event streams of bytes)
    event_id: str | None = None
    verbatim: str | None = None  # data passed on as it came ([DONE])


@dataclass(eq=False)
class _Piece:
    event: _Event
    path: Path
    text: str


@dataclass
class _Collected:
    """Every string of the events so far: delta pieces by channel, other strings by text."""

    fmt: StreamFormat
    channels: dict[Channel, list[_Piece]] = field(default_factory=dict)
    # text -> where it occurs: (event, path, is_key); a string repeated in every chunk is read once
    whole: dict[str, list[tuple[_Event, Path, bool]]] = field(default_factory=dict)

    def add(self, event: _Event) -> None:
        doc = event.doc
        deltas = self.fmt.deltas(doc) if isinstance(doc, dict) else []
        for key, path in deltas:
            text = text_at(doc, path)
            if isinstance(text, str) and text:
                self.channels.setdefault(key, []).append(_Piece(event, path, text))
        delta_paths = {path for _, path in deltas}
        for t in read(doc, self.fmt.shape, known_keys=FIELD_NAMES).texts:
            if t.is_key or t.path not in delta_paths:
                self.whole.setdefault(t.text, []).append((event, t.path, t.is_key))
        if event.name is not None and (not isinstance(doc, dict) or event.name != doc.get("type")):
            self.whole.setdefault(event.name, []).append((event, ("event",), True))
        if event.event_id is not None:
            self.whole.setdefault(event.event_id, []).append((event, ("id",), True))

    def texts(self) -> list[Text]:
        out = [Text(_channel_path(key), "".join(p.text for p in pieces)) for key, pieces in self.channels.items()]
        out += [Text(("misc", i), text) for i, text in enumerate(self.whole)]
        return out

    def redact(self, redactions: Any) -> list[tuple[_Event, Path, str]]:
        """Apply the redactions; the writes made, for the caller to check. Raises ValueError (and
        friends) when a redaction does not fit what was read or cannot be written."""
        spans: dict[str, list[Mapping[str, Any]]] = {}
        for r in redactions:
            spans.setdefault(str(r.get("field")), []).append(r)
        writes: list[tuple[_Event, Path, str]] = []
        for key, pieces in self.channels.items():
            mine = spans.pop(field_name(_channel_path(key)), None)
            if mine:
                text = apply_redactions("".join(p.text for p in pieces), mine)
                for i, piece in enumerate(pieces):
                    writes.append((piece.event, piece.path, text if i == 0 else ""))
        for i, (text, places) in enumerate(self.whole.items()):
            mine = spans.pop(field_name(("misc", i)), None)
            if not mine:
                continue
            redacted = apply_redactions(text, mine)
            for event, path, is_key in places:
                if is_key:
                    raise ValueError("a key or an SSE field cannot be redacted")
                writes.append((event, path, redacted))
        if spans:
            raise ValueError("redaction of a text the policy was not given")
        for event, path, text in writes:
            set_text(event.target, path, text)
        return writes


def _channel_path(key: Channel) -> Path:
    return ("stream", *map(str, key))


class AnswerStream:
    """The items of one streamed answer, read as they come, held until released."""

    def __init__(self) -> None:
        self.endpoint: Endpoint | None = None
        self.items: list[Any] = []
        self._events: list[_Event] = []
        self._sse: _SseParser | None = None
        self._collected: _Collected | None = None

    def add(self, item: Any) -> None:
        """Read one item (raises Unparsable; the item is kept either way)."""
        self.items.append(item)
        if self.endpoint is None:
            self.endpoint = _stream_endpoint(item)
            if isinstance(item, bytes | bytearray):
                self._sse = _SseParser()
        if self._sse is not None:
            if not isinstance(item, bytes | bytearray):
                raise Unparsable(f"{type(item).__name__} in a stream of bytes")
            self._read(self._sse.feed(bytes(item)))
        else:
            self._read([_Event(json_form(item), item)])

    def finish(self) -> None:
        """The stream ended: an unfinished last event is read too."""
        if self._sse is not None:
            self._read(self._sse.feed(b"\n\n"))

    def _read(self, events: list[_Event]) -> None:
        if self._collected is None:
            endpoint = self.endpoint or ANY_ANSWER
            self._collected = _Collected(endpoint.stream or NO_DELTAS)
        for event in events:
            self._events.append(event)
            self._collected.add(event)

    def texts(self) -> list[Text]:
        return self._collected.texts() if self._collected is not None else []

    def redact(self, verdict: Verdict) -> None:
        """Write the verdict's redactions into the held events (raises ValueError and friends when
        they do not fit)."""
        if self._collected is None:
            return
        writes = self._collected.redact(verdict.redactions)
        if self._sse is not None:
            return  # the parsed events themselves were written to; they are serialised again
        # Each object written to must serialise with the redacted text where it was read.
        written: dict[int, Any] = {}
        for event, path, text in writes:
            if id(event) not in written:
                written[id(event)] = json_form(event.target)
            if text_at(written[id(event)], path) != text:
                raise ValueError("the redaction did not reach the stream")

    def release(self) -> list[Any]:
        """What the client gets: the items (rewritten in place where redacted), or for an event
        stream of bytes every event written again from what was read (a comment or an unknown
        field, never read, is not passed on)."""
        if self._sse is None:
            return self.items
        return [_serialize(event) for event in self._events]

    def error_item(self, error: ApiError) -> Any:
        """The item that ends the stream with the API's error event, in the form LiteLLM passes
        on: raw SSE bytes, or for A2A (whose events LiteLLM serialises itself) the JSON-RPC error."""
        endpoint = self.endpoint or ENDPOINTS["chat"]
        frame = endpoint.stream_error(error)
        if endpoint.name == "a2a":
            return json.loads(frame.split(b"data: ", 1)[1])
        return frame


def _stream_endpoint(item: Any) -> Endpoint:
    """The API a stream speaks, from its first item."""
    if isinstance(item, bytes | bytearray):
        return ENDPOINTS["messages"]  # LiteLLM relays Anthropic's event stream as raw bytes
    if isinstance(item, ModelResponseStream | ModelResponse):
        return ENDPOINTS["chat"]
    if isinstance(item, TextCompletionResponse):
        return ENDPOINTS["completions"]
    if isinstance(item, BaseLiteLLMOpenAIResponseObject):
        return ENDPOINTS["responses"]
    try:
        doc = json_form(item)
    except Unparsable:
        return ANY_ANSWER
    if isinstance(doc, dict) and "jsonrpc" in doc:
        return ENDPOINTS["a2a"]
    return ANY_ANSWER


class _SseParser:
    """Whole events out of an event stream's bytes (runtime.endpoints.sse); comments and unknown
    fields are dropped; data that is not JSON (but [DONE]) raises Unparsable."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[_Event]:
        events, self._rest, _ = parse_events(self._rest + data)
        return [_event(e) for e in events]


def _event(event: SseEvent) -> _Event:
    if event.data is None:
        return _Event(None, None, event.name, event.id)
    if event.data.strip() == "[DONE]":
        return _Event(None, None, event.name, event.id, verbatim="[DONE]")
    try:
        doc = json.loads(event.data)
    except ValueError:
        raise Unparsable("an event that is not JSON") from None
    return _Event(doc, doc, event.name, event.id)


def _serialize(event: _Event) -> bytes:
    lines = []
    if event.name is not None:
        lines.append(f"event: {event.name}")
    if event.event_id is not None:
        lines.append(f"id: {event.event_id}")
    if event.verbatim is not None:
        lines.append(f"data: {event.verbatim}")
    elif event.doc is not None:
        lines.append("data: " + json.dumps(event.doc, ensure_ascii=False))
    return ("\n".join(lines) + "\n\n").encode()
