"""The SSE output filter and redaction, without a server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.gateway.enforce import Verdict, apply_redactions
from runtime.gateway.streaming import SseOutputFilter

SECRET = "AKIA0123456789ABCDEF"


def checker(calls: list[str], block: bool = False) -> Any:
    def check(text: str) -> Verdict:
        calls.append(text)
        start = text.find(SECRET)
        if start < 0:
            return Verdict("output", "1.0.0", "enforce", "allow")
        if block:
            return Verdict("output", "1.0.0", "enforce", "block", ("secret",))
        span = {"start": start, "end": start + len(SECRET), "replacement": "[SECRET]"}
        return Verdict("output", "1.0.0", "enforce", "redact", ("secret",), ("aws",), (span,))

    return check


def chunk(text: str | None = None, finish: str | None = None, role: bool = False) -> bytes:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = "assistant"
    if text is not None:
        delta["content"] = text
    data = {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def run(text: str, size: int, check: Any, **kw: int) -> tuple[list[bytes], SseOutputFilter]:
    f = SseOutputFilter(check, **kw)
    out = f.feed(chunk("", role=True))
    stream = b"".join(chunk(text[i : i + size]) for i in range(0, len(text), size))
    stream += chunk(finish="stop") + b"data: [DONE]\n\n"
    # Feed in odd byte slices: an event may be split anywhere.
    for i in range(0, len(stream), 7):
        out += f.feed(stream[i : i + 7])
    out += f.finish()
    return out, f


def text_of(events: list[bytes]) -> str:
    out = ""
    for e in events:
        data = e.decode()[6:].strip()
        if data and data != "[DONE]":
            for c in json.loads(data).get("choices", []):
                out += c["delta"].get("content") or ""
    return out


@pytest.mark.parametrize("size", [1, 3, 50])
def test_a_secret_split_across_chunks_never_leaves_unmasked(size: int) -> None:
    text = "x" * 700 + SECRET + "y" * 700
    calls: list[str] = []
    events, f = run(text, size, checker(calls), hold=64, step=64, context=16)
    assert text_of(events) == "x" * 700 + "[SECRET]" + "y" * 700
    assert all(SECRET[:6] not in e.decode() for e in events)
    assert events[-1] == b"data: [DONE]\n\n"
    assert f.redacted
    assert len(calls) < 30  # checked in windows, not once per chunk


def test_a_secret_at_a_window_boundary_is_kept_whole() -> None:
    for offset in range(100, 140):
        text = "a" * offset + SECRET + "b" * 300
        events, _ = run(text, 5, checker([]), hold=32, step=32, context=8)
        assert SECRET not in text_of(events)
        assert text_of(events) == text.replace(SECRET, "[SECRET]")


def test_block_ends_the_stream_with_an_error_event_and_no_done() -> None:
    events, f = run("fine " * 100 + SECRET + " more" * 100, 4, checker([], block=True), hold=64, step=64)
    assert f.stopped
    last = json.loads(events[-1].decode()[6:])
    assert last["error"]["code"] == "output_policy_violation"
    assert last["error"]["categories"] == ["secret"]
    assert b"[DONE]" not in b"".join(events)
    assert SECRET[:4] not in b"".join(events).decode()


def test_finish_reason_and_role_chunks_pass_in_order() -> None:
    events, _ = run("short answer", 3, checker([]))
    decoded = [json.loads(e.decode()[6:]) for e in events if b"[DONE]" not in e]
    assert decoded[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert decoded[-1]["choices"][0]["finish_reason"] == "stop"
    assert text_of(events) == "short answer"


def test_redactions_merge_overlaps_and_refuse_spans_outside_the_text() -> None:
    spans = [{"start": 2, "end": 6, "replacement": "[A]"}, {"start": 4, "end": 8, "replacement": "[B]"}]
    assert apply_redactions("0123456789", spans) == "01[A]89"
    assert apply_redactions("abc", []) == "abc"
    with pytest.raises(ValueError):
        apply_redactions("abc", [{"start": 1, "end": 9}])
