"""Requests are checked against their endpoint's schema, as strict JSON, before any policy runs:
each client mistake the fuzzer once turned into a 5xx (or forwarded) is a 400 naming the field;
what the real APIs accept still passes (provider-specific fields included); the check's cost per
request stays well inside the gateway's CPU budget."""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import jsonschema
import pytest
from gateway_fakes import FakePolicyStore
from test_bypass import FULL, PATHS
from test_gateway_endpoints import CASES, EVERYTHING

from runtime.endpoints import ENDPOINTS, JsonError, SchemaError, loads, validate_request

CHAT = {"model": "chat-default", "messages": [{"role": "user", "content": "hello"}]}


def chat_with(**message: Any) -> bytes:
    return json.dumps({**CHAT, "messages": [{"role": "user", "content": "hi"}, message]}).encode()


# (what, raw body, status, code, param)
MISTAKES = [
    ("role as an object", chat_with(role={"x": 1}, content="hi"), "invalid_request", "messages[1].role"),
    ("an unknown role", chat_with(role="root", content="hi"), "invalid_request", "messages[1].role"),
    ("content as a number", chat_with(role="user", content=5), "invalid_request", "messages[1].content"),
    ("a part's text not a string", chat_with(role="user", content=[{"type": "text", "text": ["x"]}]),
     "invalid_request", "messages[1].content[0].text"),
    ("a part without its text", chat_with(role="user", content=[{"type": "text"}]),
     "invalid_request", "messages[1].content[0].text"),
    ("a lone surrogate in a part",
     chat_with(role="user", content=[{"type": "text", "text": "a\ud800b"}]),
     "invalid_json", "messages[1].content[0].text"),
    ("a lone surrogate in a key", json.dumps({**CHAT, "metadata": {"\udc00": "x"}}).encode(),
     "invalid_json", "metadata"),
    ("NaN in a part", json.dumps({**CHAT, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "x", "weight": float("nan")}]}]}).encode(),
     "invalid_json", "messages[0].content[0].weight"),
    ("Infinity", json.dumps({**CHAT, "temperature": float("inf")}).encode(), "invalid_json", "temperature"),
    ("a number that overflows", json.dumps(CHAT).replace("{", '{"seed": 1e999, ', 1).encode(),
     "invalid_json", "seed"),
    ("999-deep nesting", json.dumps({**CHAT, "metadata": {"x": "DEEP"}}).replace(
        '"DEEP"', "[" * 999 + "]" * 999).encode(), "invalid_json", "metadata.x" + "[0]" * 62),
    ("65-deep nesting", json.dumps({**CHAT, "metadata": {"x": "DEEP"}}).replace(
        '"DEEP"', "[" * 63 + "]" * 63).encode(), "invalid_json", "metadata.x" + "[0]" * 62),
    ("a duplicate key", json.dumps(CHAT).replace('"model": "chat-default"',
                                                '"model": "chat-default", "model": "other"').encode(),
     "invalid_json", "model"),
    ("a duplicate key deep down", chat_with(role="user", content="a").replace(b'"content": "a"',
                                                                          b'"content": "a", "content": "b"'),
     "invalid_json", "messages[1].content"),
    ("a duplicate key hidden by an escaped colon",
     json.dumps({**CHAT, "user": "a:b"}).replace('"model": "chat-default"', '"model": "x", "model": "chat-default"')
     .replace("a:b", "a\\u003ab").encode(), "invalid_json", "model"),
    ("max_tokens as text", json.dumps({**CHAT, "max_tokens": "100"}).encode(), "invalid_request", "max_tokens"),
    ("stream as text", json.dumps({**CHAT, "stream": "yes"}).encode(), "invalid_request", "stream"),
    ("n of a million", json.dumps({**CHAT, "n": 1_000_000}).encode(), "invalid_request", "n"),
    ("no messages", json.dumps({"model": "chat-default", "messages": []}).encode(), "invalid_request", "messages"),
    ("not JSON", b'{"model": ', "invalid_json", None),
    ("a byte order mark", b"\xef\xbb\xbf" + json.dumps(CHAT).encode(), "invalid_json", None),
]


@pytest.mark.parametrize(("what", "raw", "code", "param"), MISTAKES, ids=[m[0] for m in MISTAKES])
async def test_a_client_mistake_is_a_400_naming_the_field(
    gateway: Any, provider: Any, policy: FakePolicyStore, what: str, raw: bytes, code: str, param: str | None
) -> None:
    _, client = await gateway(**EVERYTHING)
    r = await client.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert (error["code"], error["param"]) == (code, param), error
    assert provider.state.requests == [] and policy.calls == []  # refused before any policy ran


def test_an_error_message_names_the_rule_not_the_value() -> None:
    body = {**CHAT, "temperature": "my SSN is 536-22-4198"}
    with pytest.raises(SchemaError) as caught:
        validate_request(ENDPOINTS["chat"], body)
    assert caught.value.param == "temperature" and "536" not in caught.value.message
    assert caught.value.message == "`temperature` must be a number"


UNKNOWN_PART = {**CHAT, "messages": [{"role": "user", "content": [{"type": "video_frame", "frame": "hello there"}]}]}


async def test_an_unknown_content_part_is_refused_when_the_prompt_policy_enforces(gateway: Any, provider: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    r = await client.post("/v1/chat/completions", json=UNKNOWN_PART)
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages[0].content[0].type"
    assert provider.state.requests == []


@pytest.mark.parametrize("mode", ["monitor", "off"])
async def test_an_unknown_content_part_passes_in_monitor_and_off_and_is_read_as_text(
    gateway: Any, provider: Any, policy: FakePolicyStore, mode: str
) -> None:
    policy.modes["prompt"] = mode
    _, client = await gateway(**EVERYTHING, policies={"prompt": {"version": "1.0.0", "mode": mode},
                                                      "output": {"version": "1.2.0", "mode": "enforce"}})
    r = await client.post("/v1/chat/completions", json=UNKNOWN_PART)
    assert r.status_code == 200, r.text
    prompts = [i for p, i in policy.inputs if p == "prompt"]
    if mode == "off":  # a policy that is off reads nothing
        assert all(not i.get("texts") for i in prompts)
        return
    texts = {t["field"]: t["text"] for t in next(i for i in prompts if i.get("texts"))["texts"]}
    assert texts["messages[0].content[0].type"] == "video_frame"
    assert texts["messages[0].content[0].frame"] == "hello there"


async def test_a_bundle_reloaded_to_enforce_is_strict_though_gateway_json_says_monitor(
    gateway: Any, provider: Any, policy: FakePolicyStore
) -> None:
    # gateway.json was compiled with monitor; the bundle now loaded enforces
    _, client = await gateway(**EVERYTHING, policies={"prompt": {"version": "1.0.0", "mode": "monitor"},
                                                      "output": {"version": "1.2.0", "mode": "enforce"}})
    r = await client.post("/v1/chat/completions", json=UNKNOWN_PART)
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages[0].content[0].type"


@pytest.mark.parametrize("extra", [
    {"top_k": 40},
    {"safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]},
    {"mock_testing_fallbacks": True, "metadata": {"tags": ["a", "b"], "trace": {"id": 1}}},
    {"temperature": None, "max_tokens": None, "stop": None, "user": None},
], ids=["top_k", "safety_settings", "nested", "nulls"])
async def test_provider_specific_and_null_fields_still_work(gateway: Any, provider: Any, extra: dict[str, Any]) -> None:
    _, client = await gateway(**EVERYTHING)
    r = await client.post("/v1/chat/completions", json={**CHAT, **extra})
    assert r.status_code == 200, r.text
    assert all(provider.state.requests[0]["body"][k] == v for k, v in extra.items())


async def test_an_unknown_message_field_passes_and_is_read(
    gateway: Any, provider: Any, policy: FakePolicyStore
) -> None:
    _, client = await gateway(**EVERYTHING)
    message = {"role": "user", "content": "hi", "cache_control": {"type": "ephemeral"}}
    r = await client.post("/v1/chat/completions", json={**CHAT, "messages": [message]})
    assert r.status_code == 200, r.text
    prompt = next(i for p, i in policy.inputs if p == "prompt")
    assert any(t["field"] == "messages[0].cache_control.type" for t in prompt["texts"])


async def test_a_batch_line_that_does_not_match_its_endpoint_is_refused(gateway: Any, provider: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "chat-default", "messages": [{"role": {"x": 1}, "content": "hi"}]}}
    upload = {"file": ("b.jsonl", json.dumps(line).encode() + b"\n", "application/jsonl")}
    r = await client.post("/v1/files", data={"purpose": "batch"}, files=upload)
    assert r.status_code == 400, r.text
    assert "line 1" in r.json()["error"]["message"] and "`messages[0].role`" in r.json()["error"]["message"]
    assert provider.state.requests == []


@pytest.mark.parametrize(("data", "files", "param"), [
    ({"model": "stt-default"}, {"notes": ("a.txt", b"x", "text/plain")}, "file"),
    ({"model": "stt-default", "file": "not a file"}, {"x": ("a.wav", b"RIFF", "audio/wav")}, "file"),
    ({"model": "stt-default", "temperature": "warm"}, {"file": ("a.wav", b"RIFF", "audio/wav")}, "temperature"),
], ids=["no file", "a file as text", "a number that is not one"])
async def test_a_form_that_does_not_match_its_endpoint_is_refused(
    gateway: Any, provider: Any, data: dict[str, str], files: dict[str, Any], param: str
) -> None:
    _, client = await gateway(**EVERYTHING)
    r = await client.post("/v1/audio/transcriptions", data=data, files=files)
    assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text
    assert provider.state.requests == []


@pytest.mark.parametrize("endpoint", sorted(FULL))
def test_every_full_request_of_the_bypass_suite_is_valid(endpoint: str) -> None:
    validate_request(ENDPOINTS[endpoint], FULL[endpoint])
    assert PATHS[endpoint]


@pytest.mark.parametrize("case", [c for c in CASES if c.json is not None], ids=lambda c: c.endpoint)
def test_every_working_request_of_the_endpoint_suite_is_valid(case: Any) -> None:
    validate_request(ENDPOINTS[case.endpoint], case.request()["json"])


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_every_schema_is_a_valid_json_schema(name: str) -> None:
    endpoint = ENDPOINTS[name]
    schemas = [endpoint.request_schema, endpoint.answer_schema, endpoint.stream.schema if endpoint.stream else None]
    for schema in filter(None, schemas):
        jsonschema.Draft7Validator.check_schema(schema)


# --- the JSON loader on its own ------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b'{"a": "x:y", "b": {"c": ["d:e"]}}', b'{"a": "x\\u003ay", "b": 1}', b"[1, 2]",
                                 b'"text"', b'{"\\u00e9": 1, "\\u0065": 2}', b'{"a": {}, "b": {"a": 1}}'])
def test_the_loader_accepts_what_json_allows(raw: bytes) -> None:
    assert loads(raw) == json.loads(raw)


@pytest.mark.parametrize("raw", [b'{"a": 1, "a": 2}', b'{"a": "x:y", "a": "z"}', b'{"a": {"b": 1, "b": 1}}',
                                 b'{"\\u0061": 1, "a": 2}', b'{"a:": 1, "a:": 1, "b": "\\u003a"}'])
def test_the_loader_refuses_any_duplicate_key(raw: bytes) -> None:
    with pytest.raises(JsonError, match="appears twice"):
        loads(raw)


# --- cost ----------------------------------------------------------------------------------------


def typical_chat_body() -> bytes:
    """~4 KB: a system prompt and eight turns, as a chat client sends them."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are a helpful assistant: answer briefly."}]
    for _ in range(8):
        messages.append({"role": "user", "content": "Summarise: it was sunny, then cloudy, with rain at 6 pm. " * 6})
        messages.append({"role": "assistant", "content": "Sunny, then cloudy; rain in the evening."})
    body = {"model": "chat-default", "messages": messages, "temperature": 0.2, "max_tokens": 256, "user": "u-1"}
    return json.dumps(body).encode()


def test_parsing_and_validating_a_typical_chat_request_costs_well_under_100_microseconds() -> None:
    raw = typical_chat_body()
    assert 3500 <= len(raw) <= 4500
    endpoint = ENDPOINTS["chat"]
    validate_request(endpoint, loads(raw))  # compiled on first use
    rounds = []
    for _ in range(7):  # CPU time of this thread: what it costs, however busy the machine is
        started = time.thread_time()
        for _ in range(500):
            validate_request(endpoint, loads(raw))
        rounds.append((time.thread_time() - started) / 500)
    cost_us = statistics.median(rounds) * 1e6
    print(f"strict parse + schema check of a {len(raw)}-byte chat request: {cost_us:.1f} us")
    assert cost_us < 100, cost_us
