"""Server-sent events with the output policy applied while the answer streams, for every API that
streams (the endpoint's StreamFormat says where its events carry text in pieces).

The upstream's events are held, not rewritten: each event waits in order until every string in it
has been checked. Text that arrives in pieces (a delta) is checked together with the pieces around
it: a channel (say, choice 0's content) releases its pieces only once they are more than `hold`
characters behind the newest text, so a secret split across chunks is whole in the checked window
before any of it leaves, as long as it is shorter than `hold`. Every other string of an event
(ids, names, a "done" event's full text) is checked as it comes; a string seen before in the same
stream is not checked again. A redaction rewrites the pieces it covers in place (its replacement in
the first); a block ends the stream with the API's error event. What cannot be parsed (a data line
that is not JSON) is not forwarded: the stream ends with an error. Comments are dropped.

In `observe_only` (the output policy is in monitor or off) events pass at once, in the same
normalised form, and are still checked on the side, for the metrics.

The upstream is not trusted to be well-formed or small: event data is strict JSON of the stream's
event schema (else the stream ends with the error event, in every mode), an event larger than
`max_event_bytes` is not buffered further, and a stream that makes the filter hold back more than
`max_held_chars` characters (or events) is ended; an event is parsed once its end has arrived, so a
large event costs its size, not its size squared.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from runtime.endpoints import (
    Channel,
    Path,
    SchemaError,
    StreamFormat,
    Text,
    Usage,
    field_name,
    loads,
    read,
    set_path,
    validate_event,
)
from runtime.endpoints._vocabulary import FIELD_NAMES
from runtime.endpoints.sse import SseEvent, parse_events
from runtime.errors import ApiError, bad_answer
from runtime.policy.decision import Verdict, apply_redactions, blocked_error

__all__ = ["SseFilter"]

Check = Callable[[list[Text]], Awaitable[Verdict | None]]
# A stream's texts in pieces (choices x content, reasoning, tool calls) and the events waiting behind
# held-back text: far more than any API sends (n is at most 128 choices), few enough that the work
# per event, which grows with them, stays small.
_MAX_CHANNELS = 1024
_MAX_QUEUED = 16384


@dataclass(eq=False)
class _Queued:
    event: SseEvent
    obj: Any = None  # the parsed data (None for [DONE] or an event without data)
    misc: list[Text] = field(default_factory=list)  # strings to check whole
    misc_checked: bool = True
    pieces: list[_Piece] = field(default_factory=list)
    changed: bool = False


@dataclass(eq=False)
class _Piece:
    owner: _Queued
    path: Path
    text: str
    released: bool = False


@dataclass(eq=False)
class _Channel:
    key: Channel
    path: Path  # how the policy names this text: ("stream", <channel key>...)
    pieces: list[_Piece] = field(default_factory=list)  # not yet released
    tail: str = ""  # the end of what was released, context for the next check
    closing: bool = False  # an event ended this text: release all of it at the next round

    @property
    def pending(self) -> str:
        return "".join(p.text for p in self.pieces)


class SseFilter:
    def __init__(
        self,
        fmt: StreamFormat,
        check: Check,
        error_event: Callable[[ApiError], bytes],
        *,
        hold: int = 256,
        step: int = 256,
        context: int = 64,
        observe_only: bool = False,
        max_event_bytes: int = 16_777_216,
        max_held_chars: int = 1_048_576,
    ) -> None:
        self._fmt = fmt
        self._check = check
        self._error_event = error_event
        self._hold, self._step, self._context = hold, step, context
        self._observe_only = observe_only
        self._max_event, self._max_held = max_event_bytes, max_held_chars
        self._raw = bytearray()  # the unfinished event
        self._held = 0  # characters of delta text held back, not yet released
        self._queue: list[_Queued] = []
        self._channels: dict[Channel, _Channel] = {}
        self._seen: set[str] = set()
        self.stopped = False
        self.verdicts: list[Verdict] = []
        self.usage: Usage | None = None
        self.redacted = False
        self.dropped = False  # a comment or unknown field was not forwarded

    # --- input -----------------------------------------------------------------------------

    async def feed(self, data: bytes) -> bytes:
        """Bytes from the upstream in, bytes for the client out."""
        if self.stopped:
            return b""
        tail = bytes(self._raw[-3:])
        self._raw += data
        if _may_end_event(tail + data):
            events, rest, dropped = parse_events(bytes(self._raw))
            self._raw = bytearray(rest)
            self.dropped = self.dropped or dropped
        else:
            events = []
        if len(self._raw) > self._max_event:
            too_large = f"a stream event larger than the {self._max_event} bytes the gateway takes (max_answer_bytes)"
            return self._stop(bad_answer(too_large, rest=True))
        out = []
        for event in events:
            out.append(await self._on_event(event))
            if self.stopped:
                break
        return b"".join(out)

    async def finish(self) -> bytes:
        """The upstream ended: what is still held is checked as final and released."""
        if self.stopped:
            return b""
        out = b""
        if self._raw.strip():
            out += await self.feed(b"\n\n")
        if self.stopped:
            return out
        if self._observe_only:
            await self._round(final=True)
            return out
        return out + await self._release(final=True)

    async def _on_event(self, event: SseEvent) -> bytes:
        queued = _Queued(event)
        if event.data is not None and len(event.data) > self._max_event:
            too_large = f"a stream event larger than the {self._max_event} bytes the gateway takes (max_answer_bytes)"
            return self._stop(bad_answer(too_large, rest=True))
        if event.data is not None and event.data.strip() != "[DONE]":
            try:
                queued.obj = loads(event.data.encode())
            except ValueError:
                if self._observe_only:
                    return self._serialize(queued)
                return self._stop(bad_answer("a stream event that is not strict JSON", rest=True))
            try:
                validate_event(self._fmt, queued.obj)
            except SchemaError as exc:
                return self._stop(bad_answer(f"a stream event the API does not send: {exc.message}", rest=True))
        self._read(queued)
        if self._held > self._max_held or len(self._queue) > _MAX_QUEUED or len(self._channels) > _MAX_CHANNELS:
            return self._stop(
                bad_answer(
                    f"a stream that held back more than {self._max_held} characters (or events) unchecked", rest=True
                )
            )
        if self._observe_only:
            self._queue.append(queued)
            if self._due() or not queued.misc_checked:
                await self._round(final=False)
            self._queue.clear()
            return self._serialize(queued)
        self._queue.append(queued)
        return await self._release(final=False)

    def _read(self, queued: _Queued) -> None:
        """Split the event's strings into pieces of channels and strings to check whole."""
        obj, event = queued.obj, queued.event
        deltas: list[tuple[Channel, Path]] = self._fmt.deltas(obj) if isinstance(obj, dict) else []
        delta_paths = {path for _, path in deltas}
        for key, path in deltas:
            text = _get(obj, path)
            if not text:
                continue  # nothing to hold back
            channel = self._channels.get(key)
            if channel is None:
                channel = self._channels[key] = _Channel(key, ("stream", *map(str, key)))
            piece = _Piece(queued, path, text)
            queued.pieces.append(piece)
            channel.pieces.append(piece)
            self._held += len(text)
        if obj is not None:
            reading = read(obj, self._fmt.shape, known_keys=FIELD_NAMES)
            queued.misc = [t for t in reading.texts if t.is_key or t.path not in delta_paths]
        if event.name is not None and (not isinstance(obj, dict) or event.name != obj.get("type")):
            queued.misc.append(Text(("event",), event.name))
        if event.id is not None:
            queued.misc.append(Text(("id",), event.id))
        queued.misc = [t for t in queued.misc if t.text not in self._seen]
        queued.misc_checked = not queued.misc
        if isinstance(obj, dict):
            usage = self._fmt.usage(obj)
            if usage is not None:
                old = self.usage or (0, 0)
                self.usage = (max(old[0], usage[0]), max(old[1], usage[1]))
        closes = self._fmt.closes(obj) if isinstance(obj, dict) else ()
        if event.data is not None and event.data.strip() == "[DONE]":
            closes = ((),)
        for prefix in closes:
            for key, channel in self._channels.items():
                if key[: len(prefix)] == prefix:
                    channel.closing = True

    # --- checking and releasing --------------------------------------------------------------

    async def _release(self, *, final: bool) -> bytes:
        """Check what must be checked now, then send every event at the head of the queue whose
        strings have all been checked and released."""
        head_waits_on_misc = bool(self._queue) and not self._queue[0].misc_checked
        if final or self._due() or head_waits_on_misc:
            stop = await self._round(final=final)
            if stop is not None:
                return stop
        out = []
        while self._queue:
            head = self._queue[0]
            if not head.misc_checked or not all(p.released for p in head.pieces):
                break
            out.append(self._serialize(self._queue.pop(0)))
        return b"".join(out)

    def _due(self) -> bool:
        return any(c.closing or len(c.pending) >= self._hold + self._step for c in self._channels.values())

    async def _round(self, *, final: bool) -> bytes | None:
        """One policy evaluation over every channel's pending text (with its released tail) and
        every unchecked string; redactions applied, pieces released up to the hold line."""
        windows: list[tuple[_Channel, str]] = []
        texts: list[Text] = []
        for channel in self._channels.values():
            pending = channel.pending
            if pending:
                windows.append((channel, pending))
                texts.append(Text(channel.path, channel.tail + pending))
        misc: list[tuple[_Queued, Text]] = []
        for i, (queued, t) in enumerate((q, t) for q in self._queue for t in q.misc if not q.misc_checked):
            misc.append((queued, t))
            texts.append(Text(("misc", i), t.text))
        if not texts:
            return None
        try:
            verdict = await self._check(texts)
        except ApiError as exc:  # no decision, fail mode closed: no more text
            return None if self._observe_only else self._stop(exc)
        if verdict is not None:
            self.verdicts.append(verdict)
        if self._observe_only:
            for channel, pending in windows:
                channel.tail = (channel.tail + pending)[-self._context :]
                channel.pieces.clear()
                channel.closing = False
            self._held = 0
            self._seen.update(t.text for _, t in misc)  # observed: counted once is enough
            return None
        if verdict is not None and verdict.action == "block":
            return self._stop(blocked_error(verdict))
        spans: dict[str, list[dict[str, Any]]] = {}
        if verdict is not None and verdict.action == "redact":
            for r in verdict.redactions:
                spans.setdefault(str(r.get("field")), []).append(dict(r))
        try:
            for i, (queued, t) in enumerate(misc):
                mine = spans.get(field_name(("misc", i)))
                if mine:
                    self._redact_misc(queued, t, mine)
            for channel, pending in windows:
                self._advance(channel, pending, spans.get(field_name(channel.path), []), final=final)
        except ValueError:
            return self._stop(
                ApiError(
                    502,
                    "the output policy's redaction did not fit the answer; the rest of it was withheld",
                    type_="policy_violation",
                    code="output_policy_error",
                )
            )
        for i, (queued, t) in enumerate(misc):
            queued.misc_checked = True
            if field_name(("misc", i)) not in spans:
                self._seen.add(t.text)  # clean: the same string again needs no second look
        return None

    def _redact_misc(self, queued: _Queued, text: Text, spans: list[dict[str, Any]]) -> None:
        redacted = apply_redactions(text.text, spans)
        if text.is_key or text.path in (("event",), ("id",)):
            raise ValueError("a key or an SSE field cannot be redacted")
        set_path(queued.obj, text.path, redacted)
        queued.changed = True
        self.redacted = True

    def _advance(self, channel: _Channel, pending: str, spans: list[dict[str, Any]], *, final: bool) -> None:
        tail = len(channel.tail)
        local = []
        for s in spans:
            start, end = int(s["start"]) - tail, int(s["end"]) - tail
            if end <= 0:
                continue  # inside text already sent (it was checked then)
            local.append({**s, "start": max(0, start), "end": end})
        closing = final or channel.closing
        cut = len(pending) if closing else max(0, len(pending) - self._hold)
        for s in local:
            if s["end"] > len(pending):
                raise ValueError("redaction span outside the text")
            if s["start"] < cut < s["end"]:
                cut = s["start"]  # never split a match: keep all of it for the next round
        if local:
            new_texts = _redistribute([p.text for p in channel.pieces], local)
            for piece, text in zip(channel.pieces, new_texts, strict=True):
                if text != piece.text:
                    self._held += len(text) - len(piece.text)
                    piece.text = text
                    set_path(piece.owner.obj, piece.path, text)
                    piece.owner.changed = True
            self.redacted = True
            # the cut in redacted coordinates: everything before the first span kept after it
            cut = _map_offset(cut, local)
        released, offset = "", 0
        while channel.pieces and offset + len(channel.pieces[0].text) <= cut:
            piece = channel.pieces.pop(0)
            offset += len(piece.text)
            self._held -= len(piece.text)
            released += piece.text
            piece.released = True
        channel.tail = (channel.tail + released)[-self._context :]
        if closing and not channel.pieces:
            channel.closing = False

    # --- output ------------------------------------------------------------------------------

    def _serialize(self, queued: _Queued) -> bytes:
        event = queued.event
        lines = []
        if event.name is not None:
            lines.append(f"event: {event.name}")
        if event.id is not None:
            lines.append(f"id: {event.id}")
        if event.data is not None:
            data = json.dumps(queued.obj, ensure_ascii=False) if queued.obj is not None else event.data.strip()
            lines.append(f"data: {data}")
        return ("\n".join(lines) + "\n\n").encode()

    def _stop(self, error: ApiError) -> bytes:
        self.stopped = True
        self._queue.clear()
        self._channels.clear()
        return self._error_event(error)


def _may_end_event(data: bytes) -> bool:
    """Whether data may hold the end of an event: two line ends in a row (LF LF, CR CR, LF CR;
    CRLF CRLF holds LF CR). Without one, no event can have ended, so nothing is parsed."""
    return b"\n\n" in data or b"\r\r" in data or b"\n\r" in data


def _get(obj: Any, path: Path) -> str:
    for segment in path:
        obj = obj[segment]
    return str(obj)


def _redistribute(pieces: Sequence[str], spans: Sequence[dict[str, Any]]) -> list[str]:
    """The pieces of a text after redaction: each span's replacement goes to the piece where the
    span starts; the rest of what it covers is removed from the pieces it covers."""
    merged = _merge(spans)
    out, start = [], 0
    for text in pieces:
        end = start + len(text)
        new, pos = [], start
        for s, e, replacement in merged:
            if e <= pos or s >= end:
                continue
            new.append(text[pos - start : max(pos, s) - start])
            if s >= start:
                new.append(replacement)
            pos = min(e, end)
        new.append(text[pos - start :])
        out.append("".join(new))
        start = end
    return out


def _merge(spans: Sequence[dict[str, Any]]) -> list[tuple[int, int, str]]:
    merged: list[tuple[int, int, str]] = []
    for s in sorted(spans, key=lambda s: (int(s["start"]), int(s["end"]))):
        start, end = int(s["start"]), int(s["end"])
        if start >= end:
            raise ValueError("empty redaction span")
        if merged and start < merged[-1][1]:
            first, last, kept = merged[-1]
            merged[-1] = (first, max(last, end), kept)
        else:
            merged.append((start, end, str(s.get("replacement") or "[REDACTED]")))
    return merged


def _map_offset(offset: int, spans: Sequence[dict[str, Any]]) -> int:
    """An offset of the text before redaction, in the text after it (spans end before offset)."""
    shift = 0
    for s, e, replacement in _merge(spans):
        if e <= offset:
            shift += len(replacement) - (e - s)
    return offset + shift
