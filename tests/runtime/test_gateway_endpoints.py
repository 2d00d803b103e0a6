"""Every endpoint through the one pipeline, in-process, against the fake provider (all its APIs):
a clean request is answered and forwarded, a flagged one is refused and never forwarded, a flagged
answer is redacted; plus what only some endpoints have (batch lines, the images payload policy,
legacy backend names, endpoints an environment does not expose). The same against a real LiteLLM
proxy, the real policies and both routes: tests/integration/test_endpoint_parity.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from gateway_fakes import EVERYTHING, WAV, FakePolicyStore

from runtime.endpoints import ENDPOINTS

EMAIL = "jane.doe@example.com"
SSN = "123-45-6789"


@dataclass(frozen=True)
class Case:
    endpoint: str
    method: str
    path: str
    json: dict[str, Any] | None = None
    data: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)
    # where the fake provider puts a flagged reply (None: the answer carries no text to redact)
    reply_in: str | None = None
    # the text of the answer where the reply lands, to check the redaction
    answer_text: Callable[[Any], str] | None = None

    def request(self, text: str = "hello there") -> dict[str, Any]:
        """httpx keyword arguments, with `text` in the request's main text field."""
        if self.json is not None:
            return {"json": json.loads(json.dumps(self.json).replace("TEXT", text))}
        data = {k: v.replace("TEXT", text) for k, v in self.data.items()}
        files = {k: (n, c.replace(b"TEXT", text.encode()), t) for k, (n, c, t) in self.files.items()}
        return {"data": data, "files": files}


BATCH_LINE = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "chat-default", "messages": [{"role": "user", "content": "TEXT"}]}}

CASES = [
    Case("chat", "POST", "/v1/chat/completions",
         {"model": "chat-default", "messages": [{"role": "user", "content": "TEXT"}]},
         reply_in="content", answer_text=lambda a: a["choices"][0]["message"]["content"]),
    Case("completions", "POST", "/v1/completions", {"model": "text-default", "prompt": "TEXT"},
         reply_in="text", answer_text=lambda a: a["choices"][0]["text"]),
    Case("responses", "POST", "/v1/responses", {"model": "chat-default", "input": "TEXT"},
         reply_in="output_text",
         answer_text=lambda a: next(c["text"] for o in a["output"] if o["type"] == "message" for c in o["content"])),
    Case("messages", "POST", "/v1/messages",
         {"model": "chat-default", "max_tokens": 64, "messages": [{"role": "user", "content": "TEXT"}]},
         reply_in="text", answer_text=lambda a: next(b["text"] for b in a["content"] if b["type"] == "text")),
    Case("embeddings", "POST", "/v1/embeddings", {"model": "embed-default", "input": "TEXT"}),
    Case("images_generations", "POST", "/v1/images/generations", {"model": "image-default", "prompt": "TEXT"},
         reply_in="revised_prompt", answer_text=lambda a: a["data"][0]["revised_prompt"]),
    Case("images_edits", "POST", "/v1/images/edits", data={"model": "image-default", "prompt": "TEXT"},
         files={"image": ("cat.png", b"\x89PNG\r\n\x1a\n", "image/png")},
         reply_in="revised_prompt", answer_text=lambda a: a["data"][0]["revised_prompt"]),
    Case("audio_speech", "POST", "/v1/audio/speech", {"model": "tts-default", "input": "TEXT", "voice": "alloy"}),
    Case("audio_transcriptions", "POST", "/v1/audio/transcriptions",
         data={"model": "stt-default", "prompt": "TEXT"}, files={"file": ("a.wav", WAV, "audio/wav")},
         reply_in="text", answer_text=lambda a: a["text"]),
    Case("moderations", "POST", "/v1/moderations", {"model": "mod-default", "input": "TEXT"}),
    Case("rerank", "POST", "/v1/rerank",
         {"model": "rerank-default", "query": "TEXT", "documents": ["a", "b"], "return_documents": True},
         reply_in="document_text", answer_text=lambda a: a["results"][0]["document"]["text"]),
    Case("files", "POST", "/v1/files", data={"purpose": "batch"},
         files={"file": ("in.jsonl", json.dumps(BATCH_LINE).encode() + b"\n", "application/jsonl")}),
    Case("batches", "POST", "/v1/batches",
         {"input_file_id": "file-fake1", "endpoint": "/v1/chat/completions", "completion_window": "24h",
          "metadata": {"note": "TEXT"}}),
]

def test_the_cases_cover_every_endpoint_but_the_two_that_need_litellm() -> None:
    # MCP and A2A targets are LiteLLM's own routes (tests/integration covers them)
    assert {c.endpoint for c in CASES} == set(ENDPOINTS) - {"mcp", "a2a"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.endpoint)
async def test_a_clean_request_is_answered_and_forwarded(gateway: Any, provider: Any, case: Case) -> None:
    _, client = await gateway(**EVERYTHING)
    provider.state.files.add_file("in.jsonl", "batch", json.dumps(BATCH_LINE).encode())  # for batches
    r = await client.request(case.method, case.path, **case.request())
    assert r.status_code == 200, r.text
    assert r.headers["x-policy-decision"] in ("allow", "monitor")
    assert [seen["path"] for seen in provider.state.requests] == [case.path]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.endpoint)
async def test_a_flagged_prompt_is_refused_and_never_forwarded(gateway: Any, provider: Any, case: Case) -> None:
    _, client = await gateway(**EVERYTHING)
    r = await client.request(case.method, case.path, **case.request(f"mail {EMAIL}"))
    assert r.status_code == 403, r.text
    assert r.headers["x-policy-decision"] == "block"
    error = r.json()["error"]
    # the API's own error shape (Anthropic's for /v1/messages), the gateway's details in it
    assert error.get("gateway_type", error["type"]) == "policy_violation" and error["categories"] == ["pii"]
    assert EMAIL not in r.text
    assert provider.state.requests == []


@pytest.mark.parametrize("case", [c for c in CASES if c.reply_in], ids=lambda c: c.endpoint)
async def test_a_flagged_answer_is_redacted(gateway: Any, provider: Any, case: Case) -> None:
    provider.state.control({"reply": f"it is {SSN}.", "reply_in": [case.reply_in]})
    _, client = await gateway(**EVERYTHING)
    r = await client.request(case.method, case.path, **case.request())
    assert r.status_code == 200, r.text
    assert SSN not in r.text
    assert r.headers["x-policy-decision"] == "redact"
    assert case.answer_text is not None
    assert case.answer_text(r.json()).strip() == "it is [REDACTED:ssn]."


async def test_speech_audio_passes_as_audio(gateway: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    r = await client.post("/v1/audio/speech", json={"model": "tts-default", "input": "hi", "voice": "alloy"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("audio/")
    assert r.content.startswith(b"RIFF")


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt", "verbose_json"])
async def test_a_transcript_in_any_format_is_redacted(gateway: Any, provider: Any, fmt: str) -> None:
    provider.state.control({"reply": f"my number is {SSN}", "reply_in": ["text"]})
    _, client = await gateway(**EVERYTHING)
    r = await client.post("/v1/audio/transcriptions", data={"model": "stt-default", "response_format": fmt},
                          files={"file": ("a.wav", WAV, "audio/wav")})
    assert r.status_code == 200, r.text
    assert SSN not in r.text and "[REDACTED:ssn]" in r.text


async def test_token_arrays_are_listed_as_unreadable_for_the_policy(gateway: Any, policy: FakePolicyStore) -> None:
    _, client = await gateway(**EVERYTHING)
    r = await client.post("/v1/embeddings", json={"model": "embed-default", "input": [[1, 2, 3], "text"]})
    assert r.status_code == 200
    prompt = next(i for p, i in policy.inputs if p == "prompt")
    assert prompt["unreadable"] == [{"field": "input[0]", "kind": "token_ids"}]
    assert [t["text"] for t in prompt["texts"]] == ["text"]


async def test_a_batch_input_line_with_a_violation_is_refused_with_its_line_number(
    gateway: Any, provider: Any
) -> None:
    _, client = await gateway(**EVERYTHING)
    lines = [json.loads(json.dumps(BATCH_LINE).replace("TEXT", text)) for text in ("fine", "also fine", EMAIL)]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    upload = {"file": ("b.jsonl", body, "application/jsonl")}
    r = await client.post("/v1/files", data={"purpose": "batch"}, files=upload)
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["line"] == 3 and error["message"].startswith("line 3 of the batch input")
    assert provider.state.requests == []


async def test_a_batch_line_for_a_model_without_the_capability_is_refused(gateway: Any, provider: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    line = {**BATCH_LINE, "body": {"model": "embed-default", "messages": [{"role": "user", "content": "x"}]}}
    r = await client.post("/v1/files", data={"purpose": "batch"},
                          files={"file": ("b.jsonl", json.dumps(line).encode(), "application/jsonl")})
    assert r.status_code == 400 and "line 1" in r.json()["error"]["message"]
    assert provider.state.requests == []


async def test_a_batch_line_with_a_duplicate_key_is_refused(gateway: Any, provider: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    # the policy would read one value, another parser the other
    raw = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "chat-default", ' \
          b'"messages": [{"role": "user", "content": "x"}], "user": "' + EMAIL.encode() + b'", "user": "u1"}}\n'
    r = await client.post("/v1/files", data={"purpose": "batch"}, files={"file": ("b.jsonl", raw, "application/jsonl")})
    assert r.status_code == 400, r.text
    assert "line 1" in r.json()["error"]["message"] and "`body.user` appears twice" in r.json()["error"]["message"]
    assert provider.state.requests == []


async def test_the_batch_input_sent_upstream_is_the_lines_that_were_read(gateway: Any, provider: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    raw = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "chat-default",' \
          b'   "messages": [{"role": "user", "content": "x"}], "user": "u1"}}   \n'
    r = await client.post("/v1/files", data={"purpose": "batch"}, files={"file": ("b.jsonl", raw, "application/jsonl")})
    assert r.status_code == 200, r.text
    [seen] = provider.state.requests
    sent = seen["files"][0]["content"]
    # written again from what was parsed (one line, as read), not the client's bytes
    assert sent.endswith("\n") and sent.count("\n") == 1 and sent.encode() != raw
    assert json.loads(sent) == json.loads(raw)


async def test_images_ask_for_urls_unless_the_client_says_otherwise(gateway: Any, provider: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    r = await client.post("/v1/images/generations", json={"model": "image-default", "prompt": "a cat"})
    assert r.status_code == 200 and "url" in r.json()["data"][0]
    assert provider.state.requests[0]["body"]["response_format"] == "url"


async def test_base64_images_are_refused_where_the_backend_serves_urls_only(gateway: Any, provider: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    body = {"model": "image-default", "prompt": "a cat", "response_format": "b64_json"}
    r = await client.post("/v1/images/generations", json=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "payload_policy"
    assert provider.state.requests == []


async def test_base64_images_where_allowed_are_capped_in_size(gateway: Any, provider: Any) -> None:
    allowed = json.loads(json.dumps(EVERYTHING))
    allowed["backends"]["gpu_heavy"]["payload_policy"] = {"images_format": "b64_json", "max_image_bytes": 16}
    _, client = await gateway(**allowed)
    body = {"model": "image-default", "prompt": "a cat", "response_format": "b64_json"}
    r = await client.post("/v1/images/generations", json=body)
    assert r.status_code == 502 and r.json()["error"]["code"] == "payload_policy"  # the fake's PNG is larger
    allowed["backends"]["gpu_heavy"]["payload_policy"]["max_image_bytes"] = 100_000
    _, client = await gateway(**allowed)
    r = await client.post("/v1/images/generations", json=body)
    assert r.status_code == 200 and "b64_json" in r.json()["data"][0]


async def test_a_legacy_backend_name_resolves_to_its_backend(gateway: Any, provider: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    r = await client.post("/v1/embeddings", json={"model": "ollama", "input": "hi"})
    assert r.status_code == 200, r.text
    assert r.headers["x-router-reason"] == "legacy-name:ollama->gpu_fast"
    assert provider.state.requests[0]["body"]["model"] == "embed-default"


async def test_an_endpoint_the_environment_does_not_expose_is_404(gateway: Any, provider: Any) -> None:
    _, client = await gateway(**{**EVERYTHING, "endpoints": ["chat"]})
    r = await client.post("/v1/embeddings", json={"model": "embed-default", "input": "hi"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "endpoint_not_exposed"
    assert provider.state.requests == []


async def test_an_unknown_path_is_404_and_a_wrong_method_405(gateway: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    assert (await client.post("/v1/assistants", json={})).status_code == 404
    assert (await client.get("/v1/embeddings")).status_code == 405


async def test_models_lists_each_models_endpoints_and_the_exposed_table(gateway: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    listing = (await client.get("/v1/models")).json()
    by_id = {m["id"]: m for m in listing["data"]}
    assert by_id["chat-default"]["endpoints"] == ["chat", "responses", "messages"]
    assert by_id["tts-default"]["endpoints"] == ["audio_speech"]
    assert [e["name"] for e in listing["endpoints"]] == EVERYTHING["endpoints"]


async def test_read_routes_check_their_path_and_query_and_their_answer(gateway: Any, provider: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    r = await client.get(f"/v1/files?after={EMAIL}")
    assert r.status_code == 403 and provider.state.requests == []
    r = await client.get("/v1/files/file-x/content")
    assert r.status_code in (200, 404)


async def test_anthropic_errors_have_anthropics_shape(gateway: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    body = {"model": "chat-default", "max_tokens": 10, "messages": [{"role": "user", "content": f"to {EMAIL}"}]}
    r = await client.post("/v1/messages", json=body)
    assert r.status_code == 403
    payload = r.json()
    assert payload["type"] == "error" and payload["error"]["type"] == "permission_error"
    assert payload["error"]["gateway_type"] == "policy_violation" and payload["error"]["categories"] == ["pii"]
