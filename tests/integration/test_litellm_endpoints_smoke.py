"""Every endpoint a real LiteLLM proxy (1.106.2) serves, once plain and once streamed where the API
streams, with only the model provider faked: LiteLLM answers 200 in the endpoint's real shape and
the fake recorded the provider-side request. Plus the fake's own shapes through the official
`openai` and `anthropic` SDKs, its control API, and which guardrail hooks LiteLLM runs per endpoint
(two probe guardrails; the findings are written up in LITELLM_ENDPOINTS.md).

One LiteLLM process for the module: the compiled staging config, which serves every endpoint, with
its upstreams on the fake provider (gateway_stack.litellm_test_config).
"""

from __future__ import annotations

import base64
import json
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from gateway_stack import A2A_AGENT, ENDPOINT_MODELS, LITELLM_MASTER_KEY, MCP_SERVER, LiteLLMProxy, litellm_test_config

pytestmark = pytest.mark.integration

# The models of the compiled staging config that serve each endpoint (specs/backends.yaml).
INSTRUCT = ENDPOINT_MODELS["completions"]
CLAUDE = ENDPOINT_MODELS["messages"]
EMBED = ENDPOINT_MODELS["embeddings"]
IMAGE = ENDPOINT_MODELS["images"]
TTS = ENDPOINT_MODELS["speech"]
STT = ENDPOINT_MODELS["transcription"]
MODERATION = ENDPOINT_MODELS["moderations"]
RERANK = ENDPOINT_MODELS["rerank"]
REPLY = "Hello from the fake provider."
AUTH = {"authorization": f"Bearer {LITELLM_MASTER_KEY}"}
MODES = ["pre_call", "during_call", "post_call", "pre_mcp_call", "during_mcp_call", "post_mcp_call"]
BATCH_LINE = {
    "custom_id": "r1",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {"model": "chat-default", "messages": [{"role": "user", "content": "hi there"}]},
}


@pytest.fixture(scope="module")
def probe_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("probe") / "hooks.jsonl"


@pytest.fixture(scope="module")
def proxy(
    compiled_project: Path, fake_provider: Any, probe_log: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    guardrails = [
        {
            "guardrail_name": f"{kind.lower()}-probe",
            "litellm_params": {
                "guardrail": f"probe_guardrail.{kind}Probe",
                "mode": MODES,
                "default_on": True,
                "probe_log": str(probe_log),
                "block_marker": f"BLOCK-{kind.upper()}",
            },
        }
        for kind in ("Native", "Unified")
    ]
    config = litellm_test_config(
        compiled_project,
        "staging",
        fake_provider.base_url,
        guardrails=guardrails,
        name="endpoints-config.yaml",
    )
    shutil.copy(Path(__file__).with_name("probe_guardrail.py"), config.parent)
    started = LiteLLMProxy(config, tmp_path_factory.mktemp("litellm-endpoints") / "proxy.log")
    try:
        started.start()
        yield started.url
    finally:
        started.stop()


@pytest.fixture(autouse=True)
def clean(fake_provider: Any, probe_log: Path) -> Iterator[None]:
    fake_provider.reset()
    probe_log.write_text("")
    yield
    fake_provider.reset()


@pytest.fixture
def oai(proxy: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{proxy}/v1", api_key=LITELLM_MASTER_KEY, max_retries=0) as client:
        yield client


def provider_paths(fake_provider: Any) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in fake_provider.requests()]


def sse_events(text: str) -> list[dict[str, Any]]:
    """The JSON data of each event of an SSE body (`[DONE]` and comments left out)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = "".join(line[5:].strip() for line in block.split("\n") if line.startswith("data:"))
        if data and data != "[DONE]":
            events.append(json.loads(data))
    return events


# --- through LiteLLM -----------------------------------------------------------------------------


def test_chat_completions_plain_and_streamed(oai: openai.OpenAI, fake_provider: Any) -> None:
    answer = oai.chat.completions.create(model="chat-default", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == REPLY
    stream = oai.chat.completions.create(
        model="chat-default",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert provider_paths(fake_provider) == ["POST /v1/chat/completions"] * 2


def test_chat_completion_tool_calls_and_reasoning_pass_through(oai: openai.OpenAI, fake_provider: Any) -> None:
    fake_provider.control(reply_in=["tool_call_arguments", "reasoning_content"])
    message = (
        oai.chat.completions.create(model="chat-default", messages=[{"role": "user", "content": "hi"}])
        .choices[0]
        .message
    )
    assert message.tool_calls and json.loads(message.tool_calls[0].function.arguments) == {"text": REPLY}
    assert message.model_extra and message.model_extra.get("reasoning_content") == REPLY
    chunks = list(
        oai.chat.completions.create(model="chat-default", messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    arguments = "".join(
        call.function.arguments or ""
        for c in chunks
        if c.choices
        for call in c.choices[0].delta.tool_calls or []
        if call.function
    )
    assert json.loads(arguments) == {"text": REPLY}


@pytest.mark.parametrize("prompt", ["Once upon a time", ["one", "two"]])
def test_completions_take_a_prompt_string_or_list(oai: openai.OpenAI, fake_provider: Any, prompt: Any) -> None:
    answer = oai.completions.create(model=INSTRUCT, prompt=prompt)
    assert [c.text for c in answer.choices] == [REPLY] * (len(prompt) if isinstance(prompt, list) else 1)
    [seen] = fake_provider.requests()
    assert seen["path"] == "/v1/completions" and seen["body"]["prompt"] == prompt


def test_completions_stream(oai: openai.OpenAI, fake_provider: Any) -> None:
    chunks = list(oai.completions.create(model=INSTRUCT, prompt="Once", stream=True))
    # LiteLLM's last chunk carries finish_reason without `text` (OpenAI always sends "").
    assert "".join(c.choices[0].text or "" for c in chunks if c.choices) == REPLY
    assert provider_paths(fake_provider) == ["POST /v1/completions"]


def test_responses_plain_with_instructions_and_tool_output(oai: openai.OpenAI, fake_provider: Any) -> None:
    answer = oai.responses.create(
        model="chat-default",
        instructions="Be brief.",
        input=[
            {"role": "user", "content": "look it up"},
            {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": '{"text": "x"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "found it"},
        ],
    )
    assert answer.output_text == REPLY
    [seen] = fake_provider.requests()
    assert seen["path"] == "/v1/responses"
    assert seen["body"]["instructions"] == "Be brief."
    assert seen["body"]["input"][2]["output"] == "found it"


def test_responses_stream_events(oai: openai.OpenAI, fake_provider: Any) -> None:
    fake_provider.control(reply_in=["output_text", "function_call_arguments"])
    events = list(oai.responses.create(model="chat-default", input="hi", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == REPLY
    arguments = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(arguments) == {"text": REPLY}
    assert provider_paths(fake_provider) == ["POST /v1/responses"]


def test_anthropic_messages_plain_and_streamed(proxy: str, fake_provider: Any) -> None:
    fake_provider.control(reply_in=["thinking", "text", "tool_use_input"])
    request: dict[str, Any] = {
        "model": CLAUDE,
        "max_tokens": 64,
        "system": "You are terse.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "look it up"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "found"}]},
        ],
    }
    with anthropic.Anthropic(base_url=proxy, api_key=LITELLM_MASTER_KEY, max_retries=0) as client:
        message = client.messages.create(**request)
        with client.messages.stream(**request) as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_message()
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[2].input == {"text": REPLY}  # type: ignore[union-attr]
    seen = fake_provider.requests()
    assert [r["path"] for r in seen] == ["/v1/messages"] * 2
    assert seen[0]["body"]["system"] == "You are terse." and seen[1]["body"]["stream"] is True


@pytest.mark.parametrize(
    "given",
    [
        {"input": "one text"},
        {"input": ["one", "two"]},
        {"input": [[1, 2, 3], [4, 5]]},
        {"input": ["one", "two"], "encoding_format": "base64"},
    ],
    ids=["string", "list", "token-arrays", "base64"],
)
def test_embeddings(proxy: str, fake_provider: Any, given: dict[str, Any]) -> None:
    r = httpx.post(f"{proxy}/v1/embeddings", headers=AUTH, json={"model": EMBED, **given}, timeout=30)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    count = len(given["input"]) if isinstance(given["input"], list) else 1
    assert [d["index"] for d in data] == list(range(count))
    vector = data[0]["embedding"]
    if given.get("encoding_format") == "base64":
        assert len(struct.unpack("<8f", base64.b64decode(vector))) == 8
    else:
        assert len(vector) == 8
    [seen] = fake_provider.requests()
    assert seen["path"] == "/v1/embeddings" and seen["body"]["input"] == given["input"]


@pytest.mark.parametrize("response_format", ["url", "b64_json"])
def test_image_generation(oai: openai.OpenAI, fake_provider: Any, response_format: Any) -> None:
    image = oai.images.generate(model=IMAGE, prompt="a cat", response_format=response_format).data[0]
    assert image.url if response_format == "url" else image.b64_json
    assert image.revised_prompt == REPLY
    [seen] = fake_provider.requests()
    assert seen["path"] == "/v1/images/generations" and seen["body"]["prompt"] == "a cat"


def test_image_edit_uploads_the_image(oai: openai.OpenAI, fake_provider: Any) -> None:
    image = oai.images.edit(model=IMAGE, prompt="add a hat", image=("cat.png", b"\x89PNG fake", "image/png"))
    assert image.data and image.data[0].url
    [seen] = fake_provider.requests()
    assert seen["path"] == "/v1/images/edits" and seen["body"]["prompt"] == "add a hat"
    # LiteLLM re-uploads the image as `image[]`, named image.png.
    assert [(f["field"], f["filename"], f["size"]) for f in seen["files"]] == [("image[]", "image.png", 9)]


def test_audio_speech_returns_audio_bytes(oai: openai.OpenAI, fake_provider: Any) -> None:
    audio = oai.audio.speech.create(model=TTS, voice="alloy", input="Say hello.", response_format="wav")
    assert audio.content.startswith(b"RIFF")
    [seen] = fake_provider.requests()
    assert seen["path"] == "/v1/audio/speech" and seen["body"]["input"] == "Say hello."


@pytest.mark.parametrize("response_format", [None, "json", "text", "verbose_json"])
def test_audio_transcription_uploads_the_file(proxy: str, fake_provider: Any, response_format: str | None) -> None:
    r = httpx.post(
        f"{proxy}/v1/audio/transcriptions",
        headers=AUTH,
        data={"model": STT, **({"response_format": response_format} if response_format else {})},
        files={"file": ("hello.wav", b"RIFF0000WAVEfake", "audio/wav")},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    # LiteLLM answers JSON for every format; without one it asks the provider for verbose_json.
    assert r.json()["text"].strip() == REPLY
    [seen] = fake_provider.requests()
    assert seen["path"] == "/v1/audio/transcriptions"
    assert seen["body"]["response_format"] == (response_format or "verbose_json")
    assert [(f["field"], f["filename"], f["content"]) for f in seen["files"]] == [
        ("file", "hello.wav", "RIFF0000WAVEfake")
    ]


def test_moderations(oai: openai.OpenAI, fake_provider: Any) -> None:
    result = oai.moderations.create(model=MODERATION, input=["one", "two"])
    assert [r.flagged for r in result.results] == [False, False]
    assert provider_paths(fake_provider) == ["POST /v1/moderations"]


def test_rerank_cohere_shape(proxy: str, fake_provider: Any) -> None:
    body = {"model": RERANK, "query": "q", "documents": ["d1", "d2"], "top_n": 2, "return_documents": True}
    r = httpx.post(f"{proxy}/v1/rerank", headers=AUTH, json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert [(x["index"], x["document"]["text"]) for x in r.json()["results"]] == [(0, "d1"), (1, "d2")]
    [seen] = fake_provider.requests()
    assert seen["path"] == "/v2/rerank" and seen["body"]["documents"] == ["d1", "d2"]


@pytest.mark.parametrize("routing", ["x-litellm-model", "files_settings"])
def test_files_and_batches_round_trip(proxy: str, fake_provider: Any, routing: str) -> None:
    headers = {**AUTH, **({"x-litellm-model": "chat-default"} if routing == "x-litellm-model" else {})}
    with httpx.Client(base_url=proxy, headers=headers, timeout=30) as client:
        content = (json.dumps(BATCH_LINE) + "\n").encode()
        upload = client.post(
            "/v1/files", data={"purpose": "batch"}, files={"file": ("in.jsonl", content, "application/jsonl")}
        )
        assert upload.status_code == 200, upload.text
        file_id = upload.json()["id"]
        assert client.get(f"/v1/files/{file_id}").json()["filename"] == "in.jsonl"
        assert client.get(f"/v1/files/{file_id}/content").content == content
        batch = client.post(
            "/v1/batches",
            json={"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"},
        ).json()
        assert batch["status"] == "validating"
        done = client.get(f"/v1/batches/{batch['id']}").json()
        assert done["status"] == "completed"
        output = client.get(f"/v1/files/{done['output_file_id']}/content").text
    assert json.loads(output)["response"]["body"]["choices"][0]["message"]["content"] == REPLY
    paths = provider_paths(fake_provider)
    assert paths[:2] == ["POST /v1/files", "GET /v1/files/file-fake1"]
    assert {"POST /v1/batches", "GET /v1/batches/batch_fake1", "GET /v1/files/file-fake2/content"} <= set(paths)
    assert fake_provider.requests()[0]["files"][0]["content"] == content.decode()


def _mcp(proxy: str, message: dict[str, Any]) -> dict[str, Any]:
    headers = {**AUTH, "accept": "application/json, text/event-stream"}
    r = httpx.post(f"{proxy}/mcp/", headers=headers, json={"jsonrpc": "2.0", **message}, timeout=30)
    assert r.status_code == 200, r.text
    [answer] = sse_events(r.text) if r.headers["content-type"].startswith("text/event-stream") else [r.json()]
    return answer


def test_mcp_gateway_lists_and_calls_the_servers_tools(proxy: str, fake_provider: Any) -> None:
    init = _mcp(
        proxy,
        {
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
    )
    assert init["result"]["serverInfo"]["name"]
    tools = _mcp(proxy, {"id": 2, "method": "tools/list"})["result"]["tools"]
    assert {t["name"] for t in tools} == {f"{MCP_SERVER}-lookup", f"{MCP_SERVER}-echo"}
    call = {"name": f"{MCP_SERVER}-lookup", "arguments": {"text": "find me"}}
    result = _mcp(proxy, {"id": 3, "method": "tools/call", "params": call})["result"]
    assert result == {"content": [{"type": "text", "text": REPLY}], "isError": False}
    [sent] = [r["body"] for r in fake_provider.requests() if (r["body"] or {}).get("method") == "tools/call"]
    assert (sent["params"]["name"], sent["params"]["arguments"]) == ("lookup", {"text": "find me"})


def _a2a(proxy: str, method: str, text: str) -> httpx.Response:
    message = {"kind": "message", "messageId": "m1", "role": "user", "parts": [{"kind": "text", "text": text}]}
    body = {"jsonrpc": "2.0", "id": "req-1", "method": method, "params": {"message": message}}
    return httpx.post(f"{proxy}/a2a/{A2A_AGENT}", headers=AUTH, json=body, timeout=30)


def test_a2a_agent_card_send_and_stream(proxy: str, fake_provider: Any) -> None:
    card = httpx.get(f"{proxy}/a2a/{A2A_AGENT}/.well-known/agent-card.json", headers=AUTH, timeout=30)
    assert card.status_code == 200 and card.json()["name"] == A2A_AGENT
    sent = _a2a(proxy, "message/send", "hello agent")
    assert sent.status_code == 200, sent.text
    assert sent.json()["result"]["parts"] == [{"kind": "text", "text": REPLY}]
    streamed = _a2a(proxy, "message/stream", "hello again")
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    results = [e["result"] for e in sse_events(streamed.text)]
    assert results[0]["kind"] == "task" and results[-1]["final"] is True
    text = "".join(
        p["text"]
        for r in results
        if r["kind"] == "status-update" and "message" in r["status"]
        for p in r["status"]["message"]["parts"]
    )
    assert text == REPLY
    posts = [r for r in fake_provider.requests() if r["method"] == "POST"]
    assert [p["body"]["method"] for p in posts] == ["message/send", "message/stream"]
    assert posts[0]["body"]["params"]["message"]["parts"][0]["text"] == "hello agent"


# --- which guardrail hooks LiteLLM runs, per endpoint ---------------------------------------------

A2A_MESSAGE = {"kind": "message", "messageId": "m1", "role": "user", "parts": [{"kind": "text", "text": "hi"}]}
MCP_CALL = {"name": f"{MCP_SERVER}-lookup", "arguments": {"text": "find me"}}
WAV = {"file": ("a.wav", b"RIFF0000WAVEfake", "audio/wav")}
# endpoint: (path, request; call_type of async_pre_call_hook, the native hook that sees the answer,
# what apply_guardrail is called for). LITELLM_ENDPOINTS.md explains the rows.
HOOKS: dict[str, tuple[str, dict[str, Any], str, str | None, set[str]]] = {
    "chat": (
        "/v1/chat/completions",
        {"json": {"model": "chat-default", "messages": [{"role": "user", "content": "hi"}]}},
        "acompletion",
        "async_post_call_success_hook",
        {"request", "response"},
    ),
    "chat-stream": (
        "/v1/chat/completions",
        {"json": {"model": "chat-default", "stream": True, "messages": [{"role": "user", "content": "hi"}]}},
        "acompletion",
        "async_post_call_streaming_iterator_hook",
        {"request", "response"},
    ),
    "completions": (
        "/v1/completions",
        {"json": {"model": INSTRUCT, "prompt": "hi"}},
        "atext_completion",
        "async_post_call_success_hook",
        {"request", "response"},
    ),
    "completions-stream": (
        "/v1/completions",
        {"json": {"model": INSTRUCT, "prompt": "hi", "stream": True}},
        "atext_completion",
        "async_post_call_streaming_iterator_hook",
        {"request"},
    ),
    "responses": (
        "/v1/responses",
        {"json": {"model": "chat-default", "input": "hi"}},
        "aresponses",
        "async_post_call_success_hook",
        {"request", "response"},
    ),
    "responses-stream": (
        "/v1/responses",
        {"json": {"model": "chat-default", "input": "hi", "stream": True}},
        "aresponses",
        "async_post_call_streaming_iterator_hook",
        {"request", "response"},
    ),
    "messages": (
        "/v1/messages",
        {"json": {"model": CLAUDE, "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}},
        "anthropic_messages",
        "async_post_call_success_hook",
        {"request", "response"},
    ),
    "messages-stream": (
        "/v1/messages",
        {
            "json": {
                "model": CLAUDE,
                "max_tokens": 9,
                "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
            }
        },
        "anthropic_messages",
        "async_post_call_streaming_iterator_hook",
        {"request", "response"},
    ),
    "embeddings": (
        "/v1/embeddings",
        {"json": {"model": EMBED, "input": "hi"}},
        "aembedding",
        "async_post_call_success_hook",
        {"request"},
    ),
    "images": (
        "/v1/images/generations",
        {"json": {"model": IMAGE, "prompt": "a cat"}},
        "image_generation",
        "async_post_call_success_hook",
        {"request"},
    ),
    "images-edit": (
        "/v1/images/edits",
        {"data": {"model": IMAGE, "prompt": "a hat"}, "files": {"image": ("a.png", b"\x89PNG", "image/png")}},
        "aimage_edit",
        "async_post_call_success_hook",
        {"request"},
    ),
    "speech": (
        "/v1/audio/speech",
        {"json": {"model": TTS, "input": "hi", "voice": "alloy"}},
        "aspeech",
        None,
        {"request"},
    ),
    "transcription": (
        "/v1/audio/transcriptions",
        {"data": {"model": STT}, "files": WAV},
        "transcription",
        None,
        set(),
    ),
    "moderations": (
        "/v1/moderations",
        {"json": {"model": MODERATION, "input": "hi"}},
        "moderation",
        None,
        set(),
    ),
    "rerank": (
        "/v1/rerank",
        {"json": {"model": RERANK, "query": "q", "documents": ["d1"]}},
        "rerank",
        None,
        {"request"},
    ),
    "a2a": (
        f"/a2a/{A2A_AGENT}",
        {"json": {"jsonrpc": "2.0", "id": "1", "method": "message/send", "params": {"message": A2A_MESSAGE}}},
        "asend_message",
        "async_post_call_success_hook",
        {"request", "response"},
    ),
    "a2a-stream": (
        f"/a2a/{A2A_AGENT}",
        {"json": {"jsonrpc": "2.0", "id": "1", "method": "message/stream", "params": {"message": A2A_MESSAGE}}},
        "asend_message",
        "async_post_call_streaming_iterator_hook",
        {"request"},
    ),
    "mcp-call": (
        "/mcp/",
        {
            "json": {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": MCP_CALL},
            "headers": {"accept": "application/json, text/event-stream"},
        },
        "call_mcp_tool",
        "async_post_mcp_tool_call_hook",
        {"request", "response"},
    ),
}


@pytest.mark.parametrize("endpoint", list(HOOKS))
def test_guardrail_hooks_litellm_runs_per_endpoint(proxy: str, probe_log: Path, endpoint: str) -> None:
    path, given, call_type, answer_hook, unified = HOOKS[endpoint]
    request = dict(given)
    headers = {**AUTH, **request.pop("headers", {})}
    r = httpx.post(f"{proxy}{path}", headers=headers, timeout=30, **request)
    assert r.status_code == 200, r.text
    seen = [json.loads(line) for line in probe_log.read_text().splitlines()]
    native = [e for e in seen if e["probe"] == "NativeProbe"]
    assert {e["call_type"] for e in native if e["hook"] == "async_pre_call_hook"} == {call_type}
    answer_hooks = {e["hook"] for e in native} - {"async_pre_call_hook", "async_moderation_hook"}
    answer_hooks.discard("async_post_call_streaming_hook")  # per chunk, beside the iterator hook
    assert answer_hooks == ({answer_hook} if answer_hook else set())
    assert {e["input_type"] for e in seen if e["probe"] == "UnifiedProbe"} == unified


# --- the fake itself, through the official SDKs ------------------------------------------------------


@pytest.fixture
def direct(fake_provider: Any) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{fake_provider.base_url}/v1", api_key="fake", max_retries=0) as client:
        yield client


@pytest.mark.parametrize(
    ("slots", "read"),
    [
        (["content_parts"], lambda m: m["content"][0]["text"]),
        (["reasoning_content"], lambda m: m["reasoning_content"]),
        (["refusal"], lambda m: m["refusal"]),
        (["tool_call_arguments"], lambda m: json.loads(m["tool_calls"][0]["function"]["arguments"])["text"]),
    ],
    ids=["content-parts", "reasoning", "refusal", "tool-arguments"],
)
def test_fake_chat_puts_the_reply_where_told(fake_provider: Any, slots: list[str], read: Any) -> None:
    fake_provider.control(reply_in=slots)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    message = httpx.post(f"{fake_provider.base_url}/v1/chat/completions", json=body, timeout=10).json()
    assert read(message["choices"][0]["message"]) == REPLY
    assert message["choices"][0]["message"]["content"] is None or slots == ["content_parts"]


def test_fake_streams_parse_with_the_openai_sdk(direct: openai.OpenAI, fake_provider: Any) -> None:
    fake_provider.control(reply_in=["primary", "refusal", "reasoning"])
    chunks = list(direct.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert "".join(c.choices[0].delta.refusal or "" for c in chunks if c.choices) == REPLY
    events = list(direct.responses.create(model="m", input="hi", stream=True))
    final = events[-1]
    assert final.type == "response.completed"
    assert [item.type for item in final.response.output] == ["reasoning", "message"]
    assert "".join(e.delta for e in events if e.type == "response.refusal.delta") == REPLY
    assert "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta") == REPLY
    text = direct.audio.transcriptions.create(model="m", file=("a.wav", b"RIFF", "audio/wav"), response_format="srt")
    assert REPLY in str(text)


def test_fake_messages_parse_with_the_anthropic_sdk(fake_provider: Any) -> None:
    fake_provider.control(reply_in=["thinking", "tool_use_input"], chunk_chars=3)
    with anthropic.Anthropic(base_url=fake_provider.base_url, api_key="fake", max_retries=0) as client:
        message = client.messages.create(model="claude", max_tokens=9, messages=[{"role": "user", "content": "hi"}])
        with client.messages.stream(model="claude", max_tokens=9, messages=[{"role": "user", "content": "hi"}]) as s:
            final = s.get_final_message()
    for answer in (message, final):
        assert [b.type for b in answer.content] == ["thinking", "tool_use"]
        assert answer.content[0].thinking == REPLY  # type: ignore[union-attr]
        assert answer.content[1].input == {"text": REPLY}  # type: ignore[union-attr]
        assert answer.stop_reason == "tool_use"


# --- the fake's control API -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            {"chunks": ['data: {"a": 1}\r\r', ": comment\n\n", "data: not json\n\n"]},
            b'data: {"a": 1}\r\r: comment\n\ndata: not json\n\n',
        ),
        (
            {"chunks": ['event: error\ndata: {"error": {"message": "boom"}}\n\n']},
            b'event: error\ndata: {"error": {"message": "boom"}}\n\n',
        ),
        ({"body": '{"choices": []}', "headers": [["content-type", "application/json"]]}, b'{"choices": []}'),
        ({"body": "x", "repeat": 1 << 20}, b"x" * (1 << 20)),
    ],
    ids=["cr-only-comment-non-json", "error-event", "json-instead-of-sse", "huge-body"],
)
def test_fake_sends_a_scripted_answer_byte_for_byte(
    fake_provider: Any, script: dict[str, Any], expected: bytes
) -> None:
    fake_provider.script("/v1/chat/completions", **script)
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "secret"}]}
    r = httpx.post(f"{fake_provider.base_url}/v1/chat/completions", json=body, timeout=10)
    assert r.content == expected
    assert fake_provider.saw("secret")
    normal = httpx.post(f"{fake_provider.base_url}/v1/chat/completions", json=body, timeout=10)
    assert REPLY[:8] in normal.text  # the script answered once


def test_fake_scripts_status_and_hostile_headers(fake_provider: Any) -> None:
    fake_provider.script(
        "/v1/embeddings",
        times=2,
        status=302,
        headers=[["location", "http://127.0.0.1:9/elsewhere"], ["x-evil", "a\tb; ,=\u00ff"]],
    )
    for _ in range(2):
        r = httpx.post(f"{fake_provider.base_url}/v1/embeddings", json={"input": "x"}, timeout=10)
        assert r.status_code == 302 and r.headers["location"] == "http://127.0.0.1:9/elsewhere"
        assert r.headers["x-evil"] == "a\tb; ,=\u00ff"
    assert httpx.post(f"{fake_provider.base_url}/v1/embeddings", json={"input": "x"}, timeout=10).status_code == 200
    assert not fake_provider.saw("never sent")
