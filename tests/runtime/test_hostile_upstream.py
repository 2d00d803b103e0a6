"""A hostile or broken upstream: every malformed answer is a 502 with a JSON body saying what was
wrong (or, once a stream has started, the stream's error event), never a 500, a dropped connection
or a header the client's HTTP stack chokes on; answers are capped in size while they are read."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from test_gateway_endpoints import EVERYTHING

CHAT = {"model": "chat-default", "messages": [{"role": "user", "content": "hello"}]}


def chat_answer(**overrides: Any) -> dict[str, Any]:
    message = {"role": "assistant", "content": "hi"}
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "chat-default",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    answer.update(overrides)
    return answer


def script(provider: Any, body: bytes | str, *, path: str = "/v1/chat/completions", status: int = 200,
           content_type: str = "application/json", headers: list[list[str]] | None = None) -> None:
    raw = body.encode() if isinstance(body, str) else body
    provider.state.script({"path": path, "status": status, "body_b64": base64.b64encode(raw).decode(),
                           "headers": [["content-type", content_type], *(headers or [])]})


def assert_bad_answer(r: httpx.Response, code: str = "upstream_bad_answer") -> dict[str, Any]:
    assert r.status_code == 502, r.text
    assert r.headers["content-type"] == "application/json"
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == code and error["type"] == "service_unavailable"
    return error


HOSTILE_ANSWERS = {
    "model_with_crlf": json.dumps(chat_answer(model="m\r\nx-injected: 1")),
    "model_with_a_control_character": json.dumps(chat_answer(model="m\x01")),
    "model_not_a_string": json.dumps(chat_answer(model={"name": "m"})),
    "model_not_ascii": json.dumps(chat_answer(model="m\u2028")),
    "negative_usage": json.dumps(chat_answer(usage={"prompt_tokens": -5, "completion_tokens": 1})),
    "fractional_usage": json.dumps(chat_answer(usage={"prompt_tokens": 1.5, "completion_tokens": 1})),
    "usage_as_text": json.dumps(chat_answer(usage={"prompt_tokens": "12", "completion_tokens": 1})),
    "usage_not_an_object": json.dumps(chat_answer(usage=[1, 2])),
    "choices_not_a_list": json.dumps(chat_answer(choices="hi")),
    "content_a_number": json.dumps(chat_answer(choices=[{"index": 0, "message": {"content": 5}}])),
    "nan": json.dumps(chat_answer()).replace('"total_tokens": 4', '"total_tokens": NaN'),
    "infinity": json.dumps(chat_answer()).replace('"total_tokens": 4', '"total_tokens": 1e999'),
    "lone_surrogate": json.dumps(chat_answer()).replace('"hi"', '"h\\ud800i"'),
    "deep_nesting": json.dumps(chat_answer(extra="X")).replace('"X"', "[" * 999 + "]" * 999),
    "duplicate_key": json.dumps(chat_answer()).replace('"content": "hi"', '"content": "hi", "content": "ho"'),
    "not_json": "{'id': 'x'",
    "empty": "",
    "a_list": "[1, 2]",
}


@pytest.mark.parametrize("case", HOSTILE_ANSWERS)
async def test_a_malformed_answer_is_a_502_with_a_json_body(gateway: Any, provider: Any, case: str) -> None:
    _, client = await gateway(**EVERYTHING)
    script(provider, HOSTILE_ANSWERS[case])
    r = await client.post("/v1/chat/completions", json=CHAT)
    error = assert_bad_answer(r)
    assert "x-injected" not in r.headers and "x-model-used" not in r.headers
    assert "\r" not in error["message"] and "ho" not in error["message"].split()


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/v1/chat/completions", "audio/mpeg", b"ID3\x03\x00"),
        ("/v1/chat/completions", "image/png", b"\x89PNG\r\n"),
        ("/v1/chat/completions", "text/plain", b"hello"),
        ("/v1/chat/completions", "text/html", b"<p>hello</p>"),
        ("/v1/chat/completions", "application/x-anything", b"{}"),
        ("/v1/embeddings", "text/event-stream", b'data: {"data": []}\n\n'),
        ("/v1/audio/speech", "application/json", b'{"audio": "x"}'),
    ],
)
async def test_an_answer_of_a_kind_the_api_never_sends_is_a_502(
    gateway: Any, provider: Any, path: str, content_type: str, body: bytes
) -> None:
    _, client = await gateway(**EVERYTHING)
    script(provider, body, path=path, content_type=content_type)
    requests = {
        "/v1/chat/completions": CHAT,
        "/v1/embeddings": {"model": "embed-default", "input": "hi"},
        "/v1/audio/speech": {"model": "tts-default", "input": "hi", "voice": "alloy"},
    }
    r = await client.post(path, json=requests[path])
    assert "does not answer with" in assert_bad_answer(r)["message"]


async def test_a_good_answer_still_passes(gateway: Any, provider: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    script(provider, json.dumps(chat_answer(model="chat-default-2024")))
    r = await client.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 200 and r.headers["x-model-used"] == "chat-default-2024"
    assert r.json()["choices"][0]["message"]["content"] == "hi"


async def test_a_deployment_id_of_no_model_in_the_specs_changes_no_decision_header(gateway: Any, provider: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    script(provider, json.dumps(chat_answer()), headers=[["x-litellm-model-id", "gpt-4o-mini-elsewhere"]])
    r = await client.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 200, r.text
    assert (r.headers["x-model-used"], r.headers["x-backend-used"]) == ("chat-default", "gpu_fast")
    assert r.headers["x-router-reason"] == "model-map:chat-default->gpu_fast"


@pytest.mark.parametrize("body", ["[1, 2]", '"oops"', '{"error": NaN}', "not json"])
async def test_an_error_answer_that_is_not_a_json_object_is_replaced(gateway: Any, provider: Any, body: str) -> None:
    _, client = await gateway(**EVERYTHING)
    script(provider, body, status=400)
    r = await client.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 400 and r.json()["error"]["code"] == "upstream_error"
    assert r.json()["error"]["upstream_status"] == 400


# --- size ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_an_answer_over_max_answer_bytes_is_refused_while_it_is_read(
    gateway: Any, provider: Any, declared: bool
) -> None:
    _, client = await gateway(**EVERYTHING, max_answer_bytes=65536)
    answer = json.dumps(chat_answer()).replace('"hi"', json.dumps("x" * 200_000)).encode()
    if declared:
        script(provider, answer)
    else:
        chunks = [base64.b64encode(answer[i : i + 8192]).decode() for i in range(0, len(answer), 8192)]
        provider.state.script({"path": "/v1/chat/completions", "status": 200, "chunks_b64": chunks,
                               "headers": [["content-type", "application/json"]]})
    r = await client.post("/v1/chat/completions", json=CHAT)
    assert "65536 bytes" in assert_bad_answer(r, "upstream_answer_too_large")["message"]
    # the gateway still serves: the refused answer left nothing behind
    r = await client.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 200, r.text


async def test_an_answer_under_the_cap_passes(gateway: Any, provider: Any) -> None:
    _, client = await gateway(**EVERYTHING, max_answer_bytes=65536)
    script(provider, json.dumps(chat_answer()).replace('"hi"', json.dumps("x" * 50_000)))
    r = await client.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 200 and len(r.json()["choices"][0]["message"]["content"]) == 50_000


# --- streams -------------------------------------------------------------------------------------


def chunk(**overrides: Any) -> bytes:
    data = {"id": "c1", "model": "chat-default", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    data.update(overrides)
    return b"data: " + json.dumps(data).encode() + b"\n\n"


HOSTILE_STREAMS = {
    "negative_usage": [chunk(), chunk(choices=[], usage={"prompt_tokens": -1, "completion_tokens": 2})],
    "choices_not_a_list": [chunk(), chunk(choices={"0": "x"})],
    "nan": [chunk(), b'data: {"choices": [], "usage": {"prompt_tokens": NaN}}\n\n'],
    "lone_surrogate": [chunk(), b'data: {"choices": [{"index": 0, "delta": {"content": "\\udc00"}}]}\n\n'],
    "deep_nesting": [chunk(), b'data: {"x": ' + b"[" * 500 + b"]" * 500 + b"}\n\n"],
    "an_event_over_the_cap": [chunk(), b'data: {"choices": [{"index": 0, "delta": {"content": "'
                              + b"x" * 70_000 + b'"}}]}\n\n'],
    "an_endless_event": [chunk(), b"data: " + b"x" * 40_000, b"x" * 40_000, b"\n\n"],
}


@pytest.mark.parametrize("case", HOSTILE_STREAMS)
async def test_a_malformed_stream_ends_with_the_error_event(gateway: Any, provider: Any, case: str) -> None:
    _, client = await gateway(**EVERYTHING, max_answer_bytes=65536)
    chunks = [base64.b64encode(c).decode() for c in [*HOSTILE_STREAMS[case], b"data: [DONE]\n\n"]]
    provider.state.script({"path": "/v1/chat/completions", "status": 200, "chunks_b64": chunks,
                           "headers": [["content-type", "text/event-stream"]]})
    r = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert r.status_code == 200
    events = [line[6:] for line in r.text.split("\n") if line.startswith("data: ")]
    last = json.loads(events[-1])
    assert last["error"]["code"] == "upstream_bad_answer", r.text
    assert "[DONE]" not in events


async def test_a_stream_holding_back_too_much_is_ended(gateway: Any, provider: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    # 2,000 choices, each with less text than the filter releases at once: all of it held back
    events = [chunk(choices=[{"index": i, "delta": {"content": "y" * 250}}]) for i in range(2000)]
    provider.state.script({"path": "/v1/chat/completions", "status": 200,
                           "chunks_b64": [base64.b64encode(b"".join(events)).decode()],
                           "headers": [["content-type", "text/event-stream"]]})
    r = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    last = json.loads([line[6:] for line in r.text.split("\n") if line.startswith("data: ")][-1])
    assert last["error"]["code"] == "upstream_bad_answer" and "held back" in last["error"]["message"]


# --- headers that come back ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["sess\u00e9", "sess\tion", "x" * 2000])
async def test_an_mcp_session_id_that_cannot_be_a_header_is_a_502(gateway: Any, provider: Any, value: str) -> None:
    _, client = await gateway(**{**EVERYTHING, "endpoints": ["mcp"]})
    message = {"jsonrpc": "2.0", "id": 1, "result": {"tools": []}}
    script(provider, json.dumps(message), path="/mcp", headers=[["mcp-session-id", value]])
    r = await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert r.status_code == 502 and r.json()["error"]["type"] == "service_unavailable", r.text
    assert "mcp-session-id" not in r.headers


async def test_a_compressed_answer_is_capped_on_its_decompressed_size(gateway: Any, provider: Any) -> None:
    import gzip
    import tracemalloc

    _, client = await gateway(**EVERYTHING, max_answer_bytes=65536)
    bomb = gzip.compress(json.dumps(chat_answer()).replace('"hi"', json.dumps("x" * 50_000_000)).encode())
    assert len(bomb) < 100_000
    script(provider, bomb, headers=[["content-encoding", "gzip"]])
    tracemalloc.start()
    try:
        r = await client.post("/v1/chat/completions", json=CHAT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_bad_answer(r, "upstream_answer_too_large")
    assert peak < 20_000_000, peak  # never the 50 MB it inflates to
