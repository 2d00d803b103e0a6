"""PolicyBundleGuardrail on answers, with a policy-like store (guardrail_fakes.py) that finds one
secret: every response type LiteLLM hands `async_post_call_success_hook` and every stream the
iterator hook gets (chat and completions chunks, Responses events, Anthropic's raw SSE bytes, A2A
events) is read whole, redacted in the object LiteLLM returns, or withheld with the gateway's
refusal; a streamed answer is held in `enforce` and passes at once in `monitor`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import a2a.compat.v0_3.types as a2a_types
import pytest
from guardrail_fakes import REDACTED, SSN, FindingStore
from litellm.types.agents import LiteLLMSendMessageResponse
from litellm.types.llms.openai import (
    OpenAIFileObject,
    OutputTextDeltaEvent,
    OutputTextDoneEvent,
    ResponseCompletedEvent,
    ResponsesAPIResponse,
)
from litellm.types.utils import (
    ChatCompletionMessageToolCall,
    Choices,
    Delta,
    EmbeddingResponse,
    Function,
    ImageResponse,
    LiteLLMBatch,
    Message,
    ModelResponse,
    ModelResponseStream,
    StreamingChoices,
    TextCompletionResponse,
)

from runtime.endpoints import ENDPOINTS
from runtime.litellm_guardrail import PolicyBundleGuardrail, PolicyRefusal
from runtime.policy.decision import blocked_error, verdict

pytestmark = pytest.mark.filterwarnings("ignore:Items? .* using the `ReadOnly` qualifier:UserWarning")

SAID = f"The number on file is {SSN}."
REDACTED_SAID = f"The number on file is {REDACTED}."


def request_data() -> dict[str, Any]:
    return {"model": "chat-default", "metadata": {}, "proxy_server_request": {}}


def output_guardrail(store: FindingStore) -> PolicyBundleGuardrail:
    return PolicyBundleGuardrail(guardrail_name="policy-output", event_hook="post_call", default_on=True, store=store)


def chat_answer(text: str) -> ModelResponse:
    return ModelResponse(model="chat-default", choices=[Choices(message=Message(role="assistant", content=text))])


def tool_call_answer(arguments: str) -> ModelResponse:
    call = ChatCompletionMessageToolCall(id="call_1", type="function", function=Function(name="f", arguments=arguments))
    message = Message(role="assistant", content=None, tool_calls=[call])
    return ModelResponse(model="chat-default", choices=[Choices(message=message, finish_reason="tool_calls")])


def responses_answer(text: str) -> ResponsesAPIResponse:
    item = {
        "type": "message",
        "id": "msg_1",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    return ResponsesAPIResponse.model_validate(
        {"id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "m", "output": [item]}
    )


def anthropic_answer(text: str) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 2},
    }


# endpoint -> (an answer carrying a text, how to read the text back out of it)
ANSWERS: dict[str, tuple[Callable[[str], Any], Callable[[Any], str]]] = {
    "chat": (chat_answer, lambda r: r.choices[0].message.content),
    "chat tool call": (
        lambda t: tool_call_answer(json.dumps({"note": t})),
        lambda r: json.loads(r.choices[0].message.tool_calls[0].function.arguments)["note"],
    ),
    "completions": (
        lambda t: TextCompletionResponse(model="m", choices=[{"text": t, "index": 0, "finish_reason": "stop"}]),
        lambda r: r.choices[0].text,
    ),
    "responses": (responses_answer, lambda r: r.output[0].content[0].text),
    "messages": (anthropic_answer, lambda r: r["content"][0]["text"]),
    "images": (
        lambda t: ImageResponse(data=[{"revised_prompt": t, "b64_json": "iVBORw0KGgo="}]),
        lambda r: r.data[0].revised_prompt,
    ),
    "files": (
        lambda t: OpenAIFileObject(
            id="file-1", bytes=3, created_at=1, filename=t, object="file", purpose="batch", status="processed"
        ),
        lambda r: r.filename,
    ),
    "batches": (
        lambda t: LiteLLMBatch(
            id="batch_1",
            completion_window="24h",
            created_at=1,
            endpoint="/v1/chat/completions",
            input_file_id="file-1",
            object="batch",
            status="validating",
            metadata={"note": t},
        ),
        lambda r: r.metadata["note"],
    ),
    "a2a": (
        lambda t: LiteLLMSendMessageResponse(
            id="1", jsonrpc="2.0", result={"kind": "message", "role": "agent", "parts": [{"kind": "text", "text": t}]}
        ),
        lambda r: r.result["parts"][0]["text"],
    ),
}


@pytest.mark.parametrize("kind", list(ANSWERS))
async def test_a_violating_answer_is_redacted_in_the_object_litellm_returns(kind: str) -> None:
    build, text_of = ANSWERS[kind]
    response = build(SAID)
    result = await output_guardrail(FindingStore()).async_post_call_success_hook(request_data(), None, response)
    assert result is response
    assert text_of(result) == REDACTED_SAID


@pytest.mark.parametrize("kind", list(ANSWERS))
async def test_a_clean_answer_passes_unchanged(kind: str) -> None:
    build, text_of = ANSWERS[kind]
    store = FindingStore()
    result = await output_guardrail(store).async_post_call_success_hook(request_data(), None, build("Paris."))
    assert text_of(result) == "Paris."
    assert any("Paris." in t["text"] for t in store.asked("output")[0]["texts"])


@pytest.mark.parametrize("kind", list(ANSWERS))
async def test_a_violating_answer_is_withheld_when_the_output_policy_blocks(kind: str) -> None:
    build, _ = ANSWERS[kind]
    store = FindingStore(action="block")
    with pytest.raises(Exception) as caught:
        await output_guardrail(store).async_post_call_success_hook(request_data(), None, build(SAID))
    error = caught.value.detail if kind == "a2a" else caught.value.to_dict()  # type: ignore[attr-defined]
    assert (error["code"], error["categories"]) == ("output_policy_violation", ["pii"])
    assert SSN not in json.dumps(error)


async def test_the_output_policy_reads_the_answers_texts_as_the_gateway_names_them() -> None:
    store = FindingStore()
    await output_guardrail(store).async_post_call_success_hook(request_data(), None, chat_answer("Paris."))
    [seen] = store.asked("output")
    assert seen["endpoint"] == "chat" and seen["model"] == "chat-default"
    assert {"field": "choices[0].message.content", "text": "Paris."} in seen["texts"]


async def test_vectors_and_inline_images_are_not_read_as_text() -> None:
    store = FindingStore()
    g = output_guardrail(store)
    await g.async_post_call_success_hook(
        request_data(), None, EmbeddingResponse(model="e", data=[{"embedding": "AAAAAA==", "index": 0}])
    )
    await g.async_post_call_success_hook(
        request_data(), None, ImageResponse(data=[{"b64_json": "iVBORw0KGgoAAAANSUhEUg==", "revised_prompt": "cat"}])
    )
    texts = [t["text"] for i in store.asked("output") for t in i["texts"]]
    assert "AAAAAA==" not in texts and "iVBORw0KGgoAAAANSUhEUg==" not in texts and "cat" in texts


async def test_the_refusal_is_the_gateways_output_error() -> None:
    store = FindingStore(action="block")
    with pytest.raises(PolicyRefusal) as caught:
        await output_guardrail(store).async_post_call_success_hook(request_data(), None, chat_answer(SAID))
    [seen] = store.asked("output")
    expected = blocked_error(verdict("output", store.evaluate("output", seen), can_redact=True))
    assert (caught.value.code, caught.value.to_dict()) == ("403", expected.error())


async def test_a_redaction_that_does_not_fit_the_answer_withholds_it() -> None:
    class Stale(FindingStore):
        def evaluate(self, policy: str, input: Any) -> dict[str, Any]:
            decision = super().evaluate(policy, input)
            for r in decision.get("redactions", []):
                r["end"] += 100
            return decision

    with pytest.raises(PolicyRefusal) as caught:
        await output_guardrail(Stale()).async_post_call_success_hook(request_data(), None, chat_answer(SAID))
    assert caught.value.code == "403"


async def test_an_answer_no_policy_can_read_is_withheld_in_enforce_and_passed_in_monitor() -> None:
    odd = object()
    with pytest.raises(PolicyRefusal) as caught:
        await output_guardrail(FindingStore()).async_post_call_success_hook(request_data(), None, odd)
    assert (caught.value.code, caught.value.to_dict()["code"]) == ("502", "upstream_bad_answer")
    monitor = output_guardrail(FindingStore(mode="monitor"))
    assert await monitor.async_post_call_success_hook(request_data(), None, odd) is odd


async def test_the_answers_verdict_joins_the_prompts_in_the_decision_headers() -> None:
    data = request_data()
    g = output_guardrail(FindingStore())
    await g.async_post_call_success_hook(data, None, chat_answer(SAID))
    assert await g.async_post_call_response_headers_hook(data, None, None) == {
        "x-policy-decision": "redact",
        "x-policy-version": "output=1.0.0",
        "x-policy-categories": "pii",
    }


# --- streams -----------------------------------------------------------------------------------------


async def run_stream(store: FindingStore, items: list[Any], data: dict[str, Any] | None = None) -> list[Any]:
    async def upstream() -> AsyncIterator[Any]:
        for item in items:
            yield item

    hook = output_guardrail(store).async_post_call_streaming_iterator_hook(None, upstream(), data or request_data())
    return [item async for item in hook]


def pieces(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def chat_stream(text: str) -> list[ModelResponseStream]:
    return [ModelResponseStream(choices=[StreamingChoices(index=0, delta=Delta(content=p))]) for p in pieces(text)]


def chat_text(items: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in items)


def completions_stream(text: str) -> list[TextCompletionResponse]:
    return [TextCompletionResponse(model="m", choices=[{"text": p, "index": 0}]) for p in pieces(text)]


def responses_stream(text: str) -> list[Any]:
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    deltas = [
        OutputTextDeltaEvent(type="response.output_text.delta", delta=p, sequence_number=i, **where)
        for i, p in enumerate(pieces(text))
    ]
    done = OutputTextDoneEvent(type="response.output_text.done", text=text, **where)
    return [*deltas, done, ResponseCompletedEvent(type="response.completed", response=responses_answer(text))]


def anthropic_bytes(text: str) -> bytes:
    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n"

    out = event("message_start", {"type": "message_start", "message": {**anthropic_answer(""), "content": []}})
    out += ": a comment the policy never sees\n\n"
    out += event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}})
    for p in pieces(text):
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
        out += event("content_block_delta", delta)
    out += event("content_block_stop", {"type": "content_block_stop", "index": 0})
    out += event("message_stop", {"type": "message_stop"})
    return out.encode()


def cut(data: bytes, size: int = 7) -> list[bytes]:
    """Bytes as LiteLLM relays them: cut anywhere, also inside an event or a character."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def sse_docs(items: list[bytes]) -> list[dict[str, Any]]:
    text = b"".join(items).decode()
    return [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: ")]


def anthropic_text(items: list[bytes]) -> str:
    return "".join(d["delta"]["text"] for d in sse_docs(items) if d["type"] == "content_block_delta")


def a2a_stream(text: str) -> list[Any]:
    def update(p: str, last: bool) -> Any:
        artifact = {"artifactId": "a", "parts": [{"kind": "text", "text": p}]}
        result = {"kind": "artifact-update", "taskId": "t", "contextId": "c", "artifact": artifact, "append": True}
        message = {"jsonrpc": "2.0", "id": "1", "result": {**result, "lastChunk": last}}
        return a2a_types.SendStreamingMessageResponse.model_validate(message)

    parts = pieces(text)
    return [update(p, i == len(parts) - 1) for i, p in enumerate(parts)]


def a2a_text(items: list[Any]) -> str:
    return "".join(i.root.result.artifact.parts[0].root.text for i in items)


# endpoint -> (a stream carrying a text, the text a client reassembles from what was released)
STREAMS: dict[str, tuple[Callable[[str], list[Any]], Callable[[list[Any]], str]]] = {
    "chat": (chat_stream, chat_text),
    "completions": (completions_stream, lambda items: "".join(c.choices[0].text or "" for c in items)),
    "responses": (responses_stream, lambda items: "".join(e.delta for e in items if e.type.endswith(".delta"))),
    "messages": (lambda t: cut(anthropic_bytes(t)), anthropic_text),
    "a2a": (a2a_stream, a2a_text),
}


@pytest.mark.parametrize("endpoint", list(STREAMS))
async def test_a_secret_split_across_chunks_is_read_whole_and_redacted_before_anything_leaves(endpoint: str) -> None:
    build, text_of = STREAMS[endpoint]
    store = FindingStore()
    released = await run_stream(store, build(SAID))
    assert text_of(released) == REDACTED_SAID
    [seen] = store.asked("output")
    assert seen["endpoint"] == endpoint
    assert SAID in [t["text"] for t in seen["texts"]]


async def test_a_redacted_responses_stream_is_redacted_in_its_done_and_completed_events_too() -> None:
    released = await run_stream(FindingStore(), responses_stream(SAID))
    done, completed = released[-2:]
    assert done.text == REDACTED_SAID
    assert completed.response.output[0].content[0].text == REDACTED_SAID


@pytest.mark.parametrize("endpoint", list(STREAMS))
async def test_a_clean_stream_is_released_as_it_came(endpoint: str) -> None:
    build, text_of = STREAMS[endpoint]
    items = build("Paris is the capital of France.")
    released = await run_stream(FindingStore(), items)
    assert text_of(released) == "Paris is the capital of France."
    if endpoint != "messages":  # an event stream of bytes is written again from what was read
        assert released == items


@pytest.mark.parametrize("endpoint", list(STREAMS))
async def test_a_blocked_stream_is_only_the_apis_error_event(endpoint: str) -> None:
    build, _ = STREAMS[endpoint]
    store = FindingStore(action="block")
    [only] = await run_stream(store, build(SAID))
    [seen] = store.asked("output")
    error = blocked_error(verdict("output", store.evaluate("output", seen), can_redact=True))
    frame = ENDPOINTS[endpoint].stream_error(error)
    assert only == (json.loads(frame.split(b"data: ", 1)[1]) if endpoint == "a2a" else frame)


async def test_the_anthropic_stream_drops_what_it_did_not_read_and_keeps_the_events() -> None:
    released = await run_stream(FindingStore(), cut(anthropic_bytes("Paris.")))
    text = b"".join(released).decode()
    assert ": a comment" not in text
    assert [d["type"] for d in sse_docs(released)] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_stop",
    ]
    assert text.startswith("event: message_start\ndata: ")


async def test_a_character_cut_between_two_chunks_arrives_whole() -> None:
    data = anthropic_bytes("Grüße aus Köln.")
    released = await run_stream(FindingStore(), cut(data, 3))
    assert anthropic_text(released) == "Grüße aus Köln."


async def test_a_stream_event_that_is_not_json_is_not_passed_on() -> None:
    broken = anthropic_bytes("Paris.").replace(b'"type": "message_stop"}', b"not json")
    [only] = await run_stream(FindingStore(), cut(broken))
    assert only.startswith(b"event: error\ndata: ")
    assert json.loads(only.split(b"data: ", 1)[1])["error"]["code"] == "upstream_bad_answer"


async def test_a_stream_the_policy_cannot_judge_ends_with_the_unavailable_error() -> None:
    class Probed(FindingStore):
        def evaluate(self, policy: str, input: Any) -> dict[str, Any]:
            if input.get("texts"):
                raise RuntimeError("engine crashed")
            return super().evaluate(policy, input)

    [only] = await run_stream(Probed(), chat_stream(SAID))
    assert json.loads(only.split(b"data: ", 1)[1])["error"]["code"] == "policy_unavailable"


async def test_a_monitored_stream_passes_at_once_and_is_checked_whole_afterwards() -> None:
    store = FindingStore(mode="monitor")
    data = request_data()

    async def upstream() -> AsyncIterator[Any]:
        for chunk in chat_stream(SAID):
            yield chunk

    released: list[Any] = []
    async for chunk in output_guardrail(store).async_post_call_streaming_iterator_hook(None, upstream(), data):
        released.append(chunk)
        assert store.asked("output") == []  # only the mode probe so far
    assert chat_text(released) == SAID
    [seen] = store.asked("output")
    assert SAID in [t["text"] for t in seen["texts"]]
    assert data["metadata"]["policy_guardrail_verdicts"][-1]["action"] == "monitor"
