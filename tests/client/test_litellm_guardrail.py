"""PolicyBundleGuardrail before the call, with a policy-like store (guardrail_fakes.py): which call
types it reads, that it reads the API's fields as the gateway does and never LiteLLM's
bookkeeping (which holds the client's key), the refusals it raises (the gateway's 403 and 503,
in the exception each LiteLLM route answers best), the decision headers, and that configuration
mistakes stop the proxy instead of silently dropping the guardrail. Answers and streams are in
test_litellm_guardrail_answers.py, MCP in test_litellm_guardrail_mcp.py; the real proxy in
tests/integration/test_guardrail_litellm.py."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from fastapi import HTTPException
from guardrail_fakes import SSN, FindingStore
from litellm.integrations.custom_guardrail import is_guardrail_intervention
from litellm.types.proxy.litellm_pre_call_utils import RedactedDict

from runtime.endpoints import ENDPOINTS, prompt_input
from runtime.litellm_guardrail import GuardrailConfigError, PolicyBundleGuardrail, PolicyMcpGuardrail, PolicyRefusal
from runtime.litellm_guardrail._requests import LITELLM_KEYS
from runtime.policy.decision import blocked_error, verdict

# LiteLLM's response types trip a pydantic warning on first use (third-party noise).
pytestmark = pytest.mark.filterwarnings("ignore:Items? .* using the `ReadOnly` qualifier:UserWarning")

CLIENT_KEY = "sk-client-key-0123456789abcdef"


def litellm_bookkeeping(route_metadata: str = "metadata") -> dict[str, Any]:
    """What LiteLLM adds to `data` before the guardrails run (an online request), with the
    client's key where LiteLLM keeps it."""
    bag = {
        "user_api_key_hash": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
        "user_api_key_alias": "team-key",
        "headers": {"host": "10.1.2.3:4000", "x-forwarded-for": "10.9.8.7"},
        "requester_ip_address": "10.9.8.7",
    }
    return {
        "litellm_call_id": "call-1",
        "litellm_trace_id": "trace-1",
        "litellm_logging_obj": object(),
        "proxy_server_request": {"headers": {"authorization": f"Bearer {CLIENT_KEY}"}, "body": {}},
        "secret_fields": {"raw_headers": RedactedDict(authorization=f"Bearer {CLIENT_KEY}")},
        "api_key": CLIENT_KEY,
        # the client's x- headers LiteLLM forwards (forward_client_headers_to_llm_api)
        "headers": {"x-api-key": CLIENT_KEY, "Authorization": f"Bearer {CLIENT_KEY}"},
        "langfuse_secret_key": CLIENT_KEY,
        route_metadata: bag,
    }


def guardrail(store: FindingStore, event_hook: str = "pre_call", **kwargs: Any) -> PolicyBundleGuardrail:
    return PolicyBundleGuardrail(
        guardrail_name=f"policy-{event_hook}", event_hook=event_hook, default_on=True, store=store, **kwargs
    )


async def pre_call(store: FindingStore, data: dict[str, Any], call_type: str = "acompletion", **kw: Any) -> Any:
    return await guardrail(store, **kw).async_pre_call_hook(None, None, data, call_type)


CHAT = {
    "model": "chat-default",
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}],
    # fields an allow-list of "known" chat fields used to drop, all sent upstream
    "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"title": "Answer"}}},
    "stop": ["END"],
    "prediction": {"type": "content", "content": "a guess"},
    "x_vendor_field": "sent as is",
}

# call type -> (the endpoint, the API's fields as the client sent them, where the route keeps
# LiteLLM's metadata). The policy must read exactly what the gateway reads for that body.
JSON_CALLS: dict[str, tuple[str, dict[str, Any], str]] = {
    "acompletion": ("chat", CHAT, "metadata"),
    "atext_completion": ("completions", {"model": "fake-instruct", "prompt": ["one", [1, 2, 3]]}, "metadata"),
    "aresponses": (
        "responses",
        {"model": "chat-default", "instructions": "Be brief.", "input": "hello", "metadata": {"note": "kept"}},
        "litellm_metadata",
    ),
    "anthropic_messages": (
        "messages",
        {"model": "c", "max_tokens": 9, "system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]},
        "litellm_metadata",
    ),
    "aembedding": ("embeddings", {"model": "fake-embed", "input": [[1, 2], "two"]}, "metadata"),
    "aspeech": ("audio_speech", {"model": "fake-tts", "input": "Say hello.", "voice": "alloy"}, "metadata"),
    "moderation": ("moderations", {"model": "fake-moderation", "input": ["one", "two"]}, "metadata"),
    "rerank": ("rerank", {"model": "fake-rerank", "query": "which?", "documents": ["d1", "d2"]}, "metadata"),
    "acreate_batch": (
        "batches",
        {"input_file_id": "file-1", "endpoint": "/v1/chat/completions", "completion_window": "24h"},
        "litellm_metadata",
    ),
    "asend_message": (
        "a2a",
        {"jsonrpc": "2.0", "id": "1", "method": "message/send", "params": {"message": {"parts": [{"text": "hi"}]}}},
        "metadata",
    ),
}


@pytest.mark.parametrize("call_type", list(JSON_CALLS))
async def test_the_prompt_policy_reads_what_the_gateway_reads_and_none_of_litellms_keys(call_type: str) -> None:
    endpoint, body, bag = JSON_CALLS[call_type]
    data = {**json.loads(json.dumps(body)), **litellm_bookkeeping(bag)}
    if "metadata" in body:
        data["metadata"] = body["metadata"]  # on this route LiteLLM keeps its own bag elsewhere
    if endpoint == "a2a":
        data.update(agent_id="agent-1", custom_llm_provider="a2a_agent", model="a2a_agent/fake-agent")
    store = FindingStore(mode="monitor")  # token ids (unreadable) would be refused in enforce
    assert await pre_call(store, data, call_type) is data
    assert store.asked("prompt") == [prompt_input(ENDPOINTS[endpoint], body)]
    assert CLIENT_KEY not in repr(store.inputs) and "10.9.8.7" not in repr(store.inputs)


async def test_token_ids_are_listed_as_unreadable_and_refused() -> None:
    store = FindingStore()
    with pytest.raises(PolicyRefusal) as caught:
        await pre_call(store, {"model": "fake-embed", "input": [[1, 2], "two"], **litellm_bookkeeping()}, "aembedding")
    assert caught.value.to_dict()["categories"] == ["unreadable"]
    [seen] = store.asked("prompt")
    assert seen["unreadable"] == [{"field": "input[0]", "kind": "token_ids"}]


async def test_the_image_prompt_litellm_copies_into_messages_is_read_once() -> None:
    store = FindingStore()
    data = {
        "model": "fake-image",
        "prompt": "a cat",
        "messages": [{"role": "user", "content": "a cat"}],  # image_endpoints/endpoints.py adds this
        **litellm_bookkeeping(),
    }
    await pre_call(store, data, "image_generation")
    [seen] = store.asked("prompt")
    assert (seen["endpoint"], seen["texts"]) == ("images_generations", [{"field": "prompt", "text": "a cat"}])


async def test_uploaded_images_are_unreadable_images_and_their_names_are_read() -> None:
    store = FindingStore()
    upload = io.BytesIO(b"\x89PNG")
    upload.name = "cat.png"
    data = {"model": "fake-image", "prompt": "add a hat", "size": "1024x1024", "image": [upload]}
    data.update(litellm_bookkeeping())
    await pre_call(store, data, "aimage_edit")
    [seen] = store.asked("prompt")
    assert seen["endpoint"] == "images_edits"
    assert [t["text"] for t in seen["texts"]] == ["add a hat", "cat.png"]
    assert seen["unreadable"] == [{"field": "image[0]", "kind": "image"}]


async def test_uploaded_audio_is_unreadable_audio_and_the_transcription_prompt_is_read() -> None:
    store = FindingStore()
    data = {"model": "fake-stt", "prompt": f"names: {SSN}", "file": io.BytesIO(b"RIFF"), **litellm_bookkeeping()}
    with pytest.raises(PolicyRefusal):
        await pre_call(store, data, "transcription")
    [seen] = store.asked("prompt")
    assert seen["endpoint"] == "audio_transcriptions"
    assert seen["unreadable"] == [{"field": "file", "kind": "audio"}]


@pytest.mark.parametrize(("purpose", "unreadable"), [("batch", []), ("user_data", [{"field": "file", "kind": "file"}])])
async def test_an_uploaded_file_is_read_line_by_line_when_it_is_a_batch_input_else_unreadable(
    purpose: str, unreadable: list[dict[str, str]]
) -> None:
    store = FindingStore()
    upload = {"filename": "in.jsonl", "content_type": "application/jsonl", "size": 99}
    data = {"purpose": purpose, "file": upload, **litellm_bookkeeping("litellm_metadata")}
    if unreadable:
        with pytest.raises(PolicyRefusal):
            await pre_call(store, data, "acreate_file")
    else:
        await pre_call(store, data, "acreate_file")
    [seen] = store.asked("prompt")
    assert [t["text"] for t in seen["texts"]] == ["in.jsonl", "application/jsonl"]
    assert seen.get("unreadable", []) == unreadable


async def test_a_call_type_of_another_api_is_read_whole() -> None:
    store = FindingStore()
    await pre_call(store, {"model": "m", "document": {"text": "scan me"}, **litellm_bookkeeping()}, "aocr")
    [seen] = store.asked("prompt")
    assert seen["endpoint"] == "aocr"
    assert {"field": "document.text", "text": "scan me"} in seen["texts"]


def test_litellms_credential_keys_are_never_read() -> None:
    # LiteLLM's own lists of the keys that carry credentials (private names: a LiteLLM upgrade
    # that adds one fails here). `headers` goes upstream as HTTP headers: read, but its
    # credentials (test_headers_sent_upstream_are_read_but_their_credentials_are_not).
    from litellm.proxy.litellm_pre_call_utils import _CALLBACK_CREDENTIAL_KEYS, _TRANSPORT_ONLY_CREDENTIAL_KEYS

    assert (_TRANSPORT_ONLY_CREDENTIAL_KEYS - {"headers"}) | _CALLBACK_CREDENTIAL_KEYS <= LITELLM_KEYS


async def test_headers_sent_upstream_are_read_but_their_credentials_are_not() -> None:
    store = FindingStore()
    data = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **litellm_bookkeeping()}
    data["headers"] = {"x-api-key": CLIENT_KEY, "x-note": f"about {SSN}"}
    data["extra_headers"] = {"Cookie": f"session={CLIENT_KEY}", "x-trace": "t-1"}
    with pytest.raises(PolicyRefusal):
        await pre_call(store, data)
    [seen] = store.asked("prompt")
    assert {"field": 'headers["x-note"]', "text": f"about {SSN}"} in seen["texts"]
    assert {"field": 'extra_headers["x-trace"]', "text": "t-1"} in seen["texts"]
    assert CLIENT_KEY not in repr(seen)


# --- refusals ---------------------------------------------------------------------------------------


def data_with(content: str, bag: str = "metadata") -> dict[str, Any]:
    return {"model": "chat-default", "messages": [{"role": "user", "content": content}], **litellm_bookkeeping(bag)}


async def test_a_violating_prompt_is_refused_with_the_gateways_403_error_and_headers() -> None:
    store = FindingStore()
    with pytest.raises(PolicyRefusal) as caught:
        await pre_call(store, data_with(f"my number is {SSN}"))
    refused = caught.value
    [(_, seen)] = store.inputs
    expected = blocked_error(verdict("prompt", store.evaluate("prompt", seen), can_redact=False))
    assert (refused.code, refused.to_dict()) == ("403", expected.error())
    assert refused.to_dict()["violations"] == [
        {
            "rule": "pii_ssn",
            "category": "pii",
            "severity": "high",
            "message": "US social security number",
            "where": {"field": "messages[0].content", "start": 13, "end": 24},
        }
    ]
    assert refused.headers == {
        "x-policy-decision": "block",
        "x-policy-version": "prompt=1.0.0",
        "x-policy-categories": "pii",
    }
    assert SSN not in repr(refused.to_dict())
    # Routes that build their own error body (Anthropic messages) keep the object here.
    assert refused.provider_specific_fields == {"error": expected.error()}


async def test_an_a2a_refusal_is_an_http_exception_the_route_passes_on() -> None:
    data = {"jsonrpc": "2.0", "method": "message/send", "params": {"message": {"parts": [{"text": SSN}]}}}
    with pytest.raises(HTTPException) as caught:
        await pre_call(FindingStore(), {**data, **litellm_bookkeeping()}, "asend_message")
    assert caught.value.status_code == 403
    assert isinstance(caught.value.detail, dict) and caught.value.detail["code"] == "prompt_policy_violation"
    assert caught.value.headers is not None and caught.value.headers["x-policy-decision"] == "block"


def batch_record(record: dict[str, Any]) -> dict[str, Any]:
    """What LiteLLM's scan of a batch input hands the guardrails for one line: the record's body
    with its own metadata bags in place of the record's (batch_guardrails.py:_scan_record)."""
    bag = {"headers": {"host": "10.1.2.3:4000"}, "user_api_key_metadata": {}}
    return {**json.loads(json.dumps(record)), "metadata": dict(bag), "litellm_metadata": dict(bag)}


async def test_a_refused_batch_record_refuses_the_whole_upload() -> None:
    # LiteLLM drops a record a guardrail *blocks* and uploads the rest, but lets any other exception
    # refuse the upload (batch_guardrails.py:_is_content_block).
    record = {"model": "chat-default", "messages": [{"role": "user", "content": SSN}]}
    with pytest.raises(PolicyRefusal) as caught:
        await pre_call(FindingStore(), batch_record(record))
    assert not is_guardrail_intervention(caught.value)
    assert caught.value.to_dict()["message"].startswith("a line of the batch input: the request was blocked")


async def test_a_batch_record_is_read_whole_even_under_litellms_own_key_names() -> None:
    # A record is uploaded as written: a key LiteLLM uses for its bookkeeping online is the
    # record's own text here, and LiteLLM's scan metadata is not.
    store = FindingStore()
    record = {"model": "m", "messages": [], "proxy_server_request": {"note": SSN}, "secret_fields": "x"}
    with pytest.raises(PolicyRefusal):
        await pre_call(store, batch_record(record))
    [seen] = store.asked("prompt")
    assert {"field": "proxy_server_request.note", "text": SSN} in seen["texts"]
    assert "10.1.2.3" not in repr(seen)


async def test_monitor_mode_passes_a_violating_prompt() -> None:
    data = data_with(SSN)
    assert await pre_call(FindingStore(mode="monitor"), data) is data


async def test_no_decision_fails_closed_with_503_and_retry_after() -> None:
    with pytest.raises(PolicyRefusal) as caught:
        await pre_call(FindingStore(fail=True), data_with("hello"))
    assert (caught.value.code, caught.value.to_dict()["code"]) == ("503", "policy_unavailable")
    assert caught.value.headers == {"retry-after": "5"}


async def test_no_decision_passes_in_fail_mode_open_and_says_so_in_the_headers() -> None:
    data = data_with("hello")
    g = guardrail(FindingStore(fail=True), fail_mode="open")
    assert await g.async_pre_call_hook(None, None, data, "acompletion") is data
    headers = await g.async_post_call_response_headers_hook(data, None, None)
    assert headers == {"x-policy-decision": "fail_open", "x-policy-version": "prompt=1.0.0"}


# --- decision headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bag", ["metadata", "litellm_metadata"])
async def test_verdicts_are_kept_in_litellms_metadata_and_answer_the_decision_headers(bag: str) -> None:
    store = FindingStore(mode="monitor")
    data = data_with(SSN, bag)
    if bag == "litellm_metadata":
        data["metadata"] = {"note": "the client's, sent upstream"}
    await pre_call(store, data)
    assert data.get("metadata") == ({"note": "the client's, sent upstream"} if bag == "litellm_metadata" else data[bag])
    assert await guardrail(store, "post_call").async_post_call_response_headers_hook(data, None, None) == {
        "x-policy-decision": "monitor",
        "x-policy-version": "prompt=1.0.0",
        "x-policy-categories": "pii",
    }
    # LiteLLM's own guardrail logging got the decision too (spend logs, Langfuse, ...).
    [logged] = data[bag]["standard_logging_guardrail_information"]
    assert logged["guardrail_status"] == "guardrail_flagged"
    assert SSN not in json.dumps(logged["guardrail_response"])


async def test_a_refusal_is_reported_in_the_headers_litellm_adds_to_its_error_answer() -> None:
    data = data_with(SSN)
    with pytest.raises(PolicyRefusal):
        await pre_call(FindingStore(), data)
    headers = await guardrail(FindingStore(), "post_call").async_post_call_response_headers_hook(data, None, None)
    assert headers is not None and headers["x-policy-decision"] == "block"


# --- the classes LiteLLM loads -----------------------------------------------------------------------------


def test_the_bundle_guardrail_stays_on_litellms_native_hooks() -> None:
    # Defining apply_guardrail switches every hook to LiteLLM's unified path.
    assert "apply_guardrail" not in PolicyBundleGuardrail.__dict__
    assert "apply_guardrail" in PolicyMcpGuardrail.__dict__
    assert not guardrail(FindingStore()).uses_apply_guardrail_interface()


def test_a_subclass_keeps_the_hooks_litellm_looks_up_on_the_leaf_class() -> None:
    class Tuned(PolicyBundleGuardrail):
        pass

    class TunedMcp(PolicyMcpGuardrail):
        pass

    for name in (
        "async_pre_call_hook",
        "async_post_call_success_hook",
        "async_post_call_streaming_iterator_hook",
        "async_post_call_response_headers_hook",
    ):
        assert Tuned.__dict__[name] is PolicyBundleGuardrail.__dict__[name]
    assert TunedMcp.__dict__["apply_guardrail"] is PolicyMcpGuardrail.__dict__["apply_guardrail"]
    assert "apply_guardrail" not in Tuned.__dict__


@pytest.mark.parametrize("cls", [PolicyBundleGuardrail, PolicyMcpGuardrail])
def test_missing_bundle_parameter_is_not_a_value_error(cls: type[PolicyBundleGuardrail]) -> None:
    # LiteLLM skips a guardrail whose constructor raises ValueError/TypeError and starts the
    # proxy without it; the guardrail must stop the proxy instead.
    with pytest.raises(GuardrailConfigError) as caught:
        cls(guardrail_name="policy-prompt", event_hook="pre_call")
    assert not isinstance(caught.value, ValueError | TypeError)


def test_unloadable_bundle_stops_the_proxy(tmp_path: Any) -> None:
    with pytest.raises(GuardrailConfigError, match="cannot load the policy bundle"):
        PolicyBundleGuardrail(
            guardrail_name="policy-prompt", event_hook="pre_call", policy_bundle=str(tmp_path / "missing.tar.gz")
        )


def test_bundle_from_an_unset_environment_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLICY_BUNDLE_PATH", raising=False)
    with pytest.raises(GuardrailConfigError, match="unset environment variable"):
        PolicyBundleGuardrail(
            guardrail_name="policy-prompt", event_hook="pre_call", policy_bundle="os.environ/POLICY_BUNDLE_PATH"
        )


def test_an_unknown_fail_mode_stops_the_proxy() -> None:
    with pytest.raises(GuardrailConfigError, match="fail_mode"):
        PolicyMcpGuardrail(guardrail_name="policy-mcp", store=FindingStore(), fail_mode="ajar")


class ReloadingStore(FindingStore):
    def __init__(self) -> None:
        super().__init__()
        self.reloads = 0

    def reload_if_changed(self) -> bool:
        self.reloads += 1
        return True


async def test_the_bundle_is_checked_for_changes_once_per_interval_off_the_request_path() -> None:
    now = [100.0]
    store = ReloadingStore()
    g = PolicyBundleGuardrail(
        guardrail_name="policy-prompt", event_hook="pre_call", store=store, reload_interval_s=5, clock=lambda: now[0]
    )
    await g.async_pre_call_hook(None, None, data_with("hello"), "acompletion")
    assert g.reloader is None
    now[0] += 5
    await g.async_pre_call_hook(None, None, data_with("hello"), "acompletion")
    assert g.reloader is not None
    g.reloader.join(timeout=5)
    first = g.reloader
    await g.async_pre_call_hook(None, None, data_with("hello"), "acompletion")
    assert (store.reloads, g.reloader) == (1, first)
