"""The SSE filter without a server: every API's stream format, secrets split across chunks, the
channels an answer streams in (content, reasoning, tool-call arguments), hostile framing."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from runtime.endpoints import ENDPOINTS, Text
from runtime.endpoints.sse import parse_events
from runtime.gateway.streaming import SseFilter
from runtime.policy.decision import Verdict, apply_redactions

SECRET = "AKIA0123456789ABCDEF"


class Checker:
    """A stand-in output policy: redacts (or blocks on) SECRET wherever it is whole."""

    def __init__(self, block: bool = False) -> None:
        self.block = block
        self.calls: list[list[tuple[str, str]]] = []

    async def __call__(self, texts: list[Text]) -> Verdict:
        self.calls.append([(t.field, t.text) for t in texts])
        spans = [
            {"field": t.field, "start": m.start(), "end": m.end(), "replacement": "[SECRET]"}
            for t in texts
            for m in re.finditer(SECRET, t.text)
        ]
        if not spans:
            return Verdict("output", "1.0.0", "enforce", "allow")
        if self.block:
            return Verdict("output", "1.0.0", "enforce", "block", ("secret",), ("secret",))
        return Verdict("output", "1.0.0", "enforce", "redact", ("secret",), ("secret",), tuple(spans))


def chat_chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> bytes:
    data = {"id": "c1", "model": "m", "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def chat_stream(text: str, size: int, key: str = "content") -> bytes:
    out = chat_chunk({"role": "assistant", "content": ""})
    out += b"".join(chat_chunk({key: text[i : i + size]}) for i in range(0, len(text), size))
    return out + chat_chunk({}, "stop") + b"data: [DONE]\n\n"


async def run(endpoint: str, stream: bytes, check: Checker, *, slice_: int = 7, **kw: Any) -> tuple[bytes, SseFilter]:
    e = ENDPOINTS[endpoint]
    assert e.stream is not None
    f = SseFilter(e.stream, check, e.stream_error, **kw)
    out = b""
    # Fed in odd byte slices: an event may be split anywhere.
    for i in range(0, len(stream), slice_):
        out += await f.feed(stream[i : i + slice_])
    return out + await f.finish(), f


def events_of(out: bytes) -> list[tuple[str | None, Any]]:
    events, rest, _ = parse_events(out)
    assert rest == b""
    return [(e.name, e.data if e.data == "[DONE]" else json.loads(e.data or "null")) for e in events]


def chat_text(out: bytes, key: str = "content") -> str:
    return "".join(
        c["delta"].get(key) or ""
        for _, data in events_of(out)
        if isinstance(data, dict)
        for c in data.get("choices", [])
    )


@pytest.mark.parametrize("size", [1, 3, 50])
async def test_a_secret_split_across_chunks_never_leaves_unmasked(size: int) -> None:
    text = "x" * 700 + SECRET + "y" * 700
    check = Checker()
    out, f = await run("chat", chat_stream(text, size), check, hold=64, step=64, context=16)
    assert chat_text(out) == "x" * 700 + "[SECRET]" + "y" * 700
    assert SECRET[:6].encode() not in out
    assert out.endswith(b"data: [DONE]\n\n")
    assert f.redacted
    assert len(check.calls) < 30  # checked in windows, not once per chunk


async def test_a_secret_at_a_window_boundary_is_kept_whole() -> None:
    for offset in range(100, 140):
        text = "a" * offset + SECRET + "b" * 300
        out, _ = await run("chat", chat_stream(text, 5), Checker(), hold=32, step=32, context=8)
        assert chat_text(out) == text.replace(SECRET, "[SECRET]")


@pytest.mark.parametrize("key", ["reasoning_content", "refusal"])
async def test_reasoning_and_refusal_deltas_are_channels_of_their_own(key: str) -> None:
    text = "thinking " * 40 + SECRET + " done"
    out, _ = await run("chat", chat_stream(text, 4, key), Checker(), hold=64, step=64)
    assert chat_text(out, key) == text.replace(SECRET, "[SECRET]")
    assert SECRET[:6].encode() not in out


async def test_tool_call_arguments_split_across_chunks_are_redacted() -> None:
    args = json.dumps({"query": "key " + SECRET})
    stream = chat_chunk({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                              "function": {"name": "lookup", "arguments": ""}}]})
    for i in range(0, len(args), 3):
        stream += chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + 3]}}]})
    stream += chat_chunk({}, "tool_calls") + b"data: [DONE]\n\n"
    out, _ = await run("chat", stream, Checker())
    joined = "".join(
        call["function"].get("arguments", "")
        for _, data in events_of(out)
        if isinstance(data, dict)
        for c in data["choices"]
        for call in c["delta"].get("tool_calls", [])
    )
    assert joined == args.replace(SECRET, "[SECRET]")


async def test_block_ends_the_stream_with_an_error_event_and_no_done() -> None:
    out, f = await run("chat", chat_stream("fine " * 100 + SECRET + " more" * 100, 4), Checker(block=True),
                       hold=64, step=64)
    assert f.stopped
    last = events_of(out)[-1][1]
    assert last["error"]["code"] == "output_policy_violation"
    assert last["error"]["categories"] == ["secret"]
    assert b"[DONE]" not in out
    assert SECRET[:4].encode() not in out


async def test_finish_reason_and_role_chunks_pass_in_order() -> None:
    out, _ = await run("chat", chat_stream("short answer", 3), Checker())
    decoded = [data for _, data in events_of(out) if isinstance(data, dict)]
    assert decoded[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert decoded[-1]["choices"][0]["finish_reason"] == "stop"
    assert chat_text(out) == "short answer"


async def test_cr_only_and_crlf_line_endings_are_read_as_events() -> None:
    stream = chat_stream("before " + SECRET + " after", 4)
    for ending in (b"\r", b"\r\n"):
        out, _ = await run("chat", stream.replace(b"\n", ending), Checker(), slice_=5)
        assert chat_text(out) == "before [SECRET] after"


async def test_a_data_line_that_is_not_json_ends_the_stream_unforwarded() -> None:
    stream = chat_chunk({"content": "hello"}) + b"data: " + SECRET.encode() + b"\n\n" + b"data: [DONE]\n\n"
    out, f = await run("chat", stream, Checker())
    assert f.stopped
    assert SECRET.encode() not in out
    assert events_of(out)[-1][1]["error"]["code"] == "upstream_bad_answer"


async def test_comment_lines_are_not_forwarded() -> None:
    stream = b": " + SECRET.encode() + b"\n" + chat_stream("hi", 2)
    out, f = await run("chat", stream, Checker())
    assert SECRET.encode() not in out and f.dropped
    assert chat_text(out) == "hi"


async def test_strings_beside_the_deltas_are_checked_too() -> None:
    # an id (or any field) that carries a secret is read and redacted, once per distinct value
    data = {"id": SECRET, "model": "m", "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
    stream = (b"data: " + json.dumps(data).encode() + b"\n\n") * 3 + b"data: [DONE]\n\n"
    check = Checker()
    out, _ = await run("chat", stream, check)
    assert SECRET.encode() not in out
    assert sum(1 for call in check.calls for _, text in call if text == SECRET) == 1


async def test_responses_api_events_deltas_and_done_texts_are_redacted() -> None:
    text = "answer " * 30 + SECRET + " end"
    pieces = [text[i : i + 5] for i in range(0, len(text), 5)]

    def ev(kind: str, **fields: Any) -> bytes:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()

    stream = ev("response.created", response={"id": "resp_1", "object": "response", "status": "in_progress",
                                              "output": []})
    stream += b"".join(ev("response.output_text.delta", item_id="msg_1", output_index=0, content_index=0, delta=p)
                       for p in pieces)
    stream += ev("response.output_text.done", item_id="msg_1", output_index=0, content_index=0, text=text)
    stream += ev("response.completed", response={"id": "resp_1", "object": "response", "status": "completed",
                                                 "output": [{"type": "message", "role": "assistant", "content": [
                                                     {"type": "output_text", "text": text}]}],
                                                 "usage": {"input_tokens": 3, "output_tokens": 40}})
    out, f = await run("responses", stream, Checker(), hold=64, step=64)
    events = events_of(out)
    deltas = "".join(data["delta"] for name, data in events if name == "response.output_text.delta")
    assert deltas == text.replace(SECRET, "[SECRET]")
    assert SECRET.encode() not in out
    assert f.usage == (3, 40)


async def test_anthropic_message_events_text_and_tool_input_are_redacted() -> None:
    text = "hello " * 30 + SECRET
    args = json.dumps({"k": SECRET})

    def ev(kind: str, **fields: Any) -> bytes:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()

    stream = ev("message_start", message={"id": "msg_1", "type": "message", "role": "assistant", "content": [],
                                          "model": "m", "usage": {"input_tokens": 5, "output_tokens": 1}})
    stream += ev("content_block_start", index=0, content_block={"type": "text", "text": ""})
    stream += b"".join(ev("content_block_delta", index=0, delta={"type": "text_delta", "text": text[i : i + 4]})
                       for i in range(0, len(text), 4))
    stream += ev("content_block_stop", index=0)
    stream += ev("content_block_start", index=1, content_block={"type": "tool_use", "id": "tu_1", "name": "f",
                                                                "input": {}})
    stream += b"".join(ev("content_block_delta", index=1,
                          delta={"type": "input_json_delta", "partial_json": args[i : i + 3]})
                       for i in range(0, len(args), 3))
    stream += ev("content_block_stop", index=1)
    stream += ev("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 30})
    stream += ev("message_stop")
    out, f = await run("messages", stream, Checker(), hold=64, step=64)
    events = events_of(out)
    got = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta" and d["index"] == 0)
    tool = "".join(d["delta"]["partial_json"] for n, d in events if n == "content_block_delta" and d["index"] == 1)
    assert got == text.replace(SECRET, "[SECRET]")
    assert tool == args.replace(SECRET, "[SECRET]")
    assert events[-1][0] == "message_stop"
    assert f.usage == (5, 30)


async def test_an_anthropic_block_ends_with_anthropics_error_event() -> None:
    stream = (
        b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, '
        b'"delta": {"type": "text_delta", "text": "' + SECRET.encode() + b'"}}\n\n'
        b'event: message_stop\ndata: {"type": "message_stop"}\n\n'
    )
    out, f = await run("messages", stream, Checker(block=True))
    name, data = events_of(out)[-1]
    assert f.stopped and name == "error"
    assert data["type"] == "error" and data["error"]["type"] == "permission_error"


async def test_observe_only_passes_events_at_once_and_still_checks() -> None:
    check = Checker()
    e = ENDPOINTS["chat"]
    assert e.stream is not None
    f = SseFilter(e.stream, check, e.stream_error, observe_only=True, hold=16, step=16)
    first = await f.feed(chat_chunk({"content": SECRET}))
    assert SECRET.encode() in first  # monitor: passes as it came
    await f.feed(chat_chunk({}, "stop") + b"data: [DONE]\n\n")
    await f.finish()
    assert any(v.action == "redact" for v in f.verdicts)  # but it was seen, for the metrics


def test_redactions_merge_overlaps_and_refuse_spans_outside_the_text() -> None:
    spans = [{"start": 2, "end": 6, "replacement": "[A]"}, {"start": 4, "end": 8, "replacement": "[B]"}]
    assert apply_redactions("0123456789", spans) == "01[A]89"
    assert apply_redactions("abc", []) == "abc"
    with pytest.raises(ValueError):
        apply_redactions("abc", [{"start": 1, "end": 9}])


async def test_a_character_cut_between_two_chunks_stays_whole() -> None:
    out, _ = await run("chat", chat_stream("Grüße aus Köln", 100), Checker(), slice_=1)
    assert chat_text(out) == "Grüße aus Köln"
