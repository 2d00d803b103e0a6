"""PolicyBundleGuardrail's hooks with a scripted policy store: what blocks, what passes, what is
redacted, and that configuration mistakes stop the proxy instead of silently dropping the
guardrail. The real-bundle, real-proxy behaviour is in tests/integration/test_guardrail_litellm.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from fastapi import HTTPException
from litellm.types.utils import (
    Choices,
    Delta,
    Message,
    ModelResponse,
    ModelResponseStream,
    StreamingChoices,
)

from runtime.litellm_guardrail import GuardrailConfigError, PolicyBundleGuardrail

# LiteLLM's response types trip a pydantic warning on first use (third-party noise).
pytestmark = pytest.mark.filterwarnings("ignore:Item .* is using the `ReadOnly` qualifier:UserWarning")

REQUEST = {
    "model": "chat-default",
    "messages": [{"role": "user", "content": "hello"}],
    "metadata": {"user_api_key_hash": "abc"},
    "litellm_call_id": "call-1",
}
SSN_VIOLATION = {
    "rule": "pii_ssn",
    "category": "pii",
    "severity": "high",
    "message": "social security number",
    "where": {"field": "text", "start": 12, "end": 23},
}


class ScriptedStore:
    """Answers a fixed decision per policy and records what it was asked."""

    def __init__(self, decisions: Mapping[str, dict[str, Any] | Exception]) -> None:
        self.decisions = decisions
        self.inputs: list[tuple[str, Mapping[str, Any]]] = []

    def evaluate(self, policy: str, input: Mapping[str, Any]) -> dict[str, Any]:
        self.inputs.append((policy, input))
        decision = self.decisions[policy]
        if isinstance(decision, Exception):
            raise decision
        return decision


def decision(mode: str, *violations: dict[str, Any], **extra: Any) -> dict[str, Any]:
    allow = mode != "enforce" or not violations
    return {
        "allow": allow,
        "mode": mode,
        "policy_version": "1.0.0",
        "violations": list(violations),
        **extra,
    }


def answer_input(text: str) -> dict[str, Any]:
    return {"model": "chat-default", "texts": [{"field": "text", "text": text}]}


def guardrail(store: ScriptedStore, event_hook: str, **kwargs: Any) -> PolicyBundleGuardrail:
    return PolicyBundleGuardrail(
        guardrail_name=f"policy-{event_hook}",
        event_hook=event_hook,
        default_on=True,
        store=store,
        **kwargs,
    )


def answer(text: str) -> ModelResponse:
    return ModelResponse(model="chat-default", choices=[Choices(message=Message(role="assistant", content=text))])


async def pre_call(g: PolicyBundleGuardrail, data: dict[str, Any]) -> Any:
    return await g.async_pre_call_hook(None, None, data, "acompletion")


async def test_allowed_prompt_passes_and_the_policy_sees_only_the_openai_fields() -> None:
    store = ScriptedStore({"prompt": decision("enforce")})
    data = dict(REQUEST)
    assert await pre_call(guardrail(store, "pre_call"), data) is data
    assert store.inputs == [("prompt", {"endpoint": "chat", "model": "chat-default", "texts": [
        {"field": "messages[0].content", "role": "user", "text": "hello"},
    ]})]


async def test_blocked_prompt_raises_400_with_the_decision_and_no_text() -> None:
    violation = {**SSN_VIOLATION, "where": {"field": "messages[0].content", "start": 0, "end": 5}}
    store = ScriptedStore({"prompt": decision("enforce", violation)})
    with pytest.raises(HTTPException) as caught:
        await pre_call(guardrail(store, "pre_call"), dict(REQUEST))
    assert caught.value.status_code == 400
    error = caught.value.detail["error"]
    assert error["type"] == "policy_violation"
    assert (error["policy"], error["policy_version"], error["categories"]) == (
        "prompt",
        "1.0.0",
        ["pii"],
    )
    assert error["rules"] == ["pii_ssn"]
    assert error["decision"] == {
        "allow": False,
        "mode": "enforce",
        "policy_version": "1.0.0",
        "violations": [violation],
    }
    assert "hello" not in repr(caught.value.detail)


async def test_monitor_mode_passes_a_violating_prompt() -> None:
    store = ScriptedStore({"prompt": decision("monitor", SSN_VIOLATION)})
    data = dict(REQUEST)
    assert await pre_call(guardrail(store, "pre_call"), data) is data


async def test_non_chat_calls_are_not_evaluated() -> None:
    store = ScriptedStore({"prompt": decision("enforce", SSN_VIOLATION)})
    g = guardrail(store, "pre_call")
    await g.async_pre_call_hook(None, None, {"input": "x"}, "aembedding")
    assert store.inputs == []


async def test_policy_error_fails_closed_with_503() -> None:
    store = ScriptedStore({"prompt": RuntimeError("engine crashed")})
    with pytest.raises(HTTPException) as caught:
        await pre_call(guardrail(store, "pre_call"), dict(REQUEST))
    assert caught.value.status_code == 503
    assert caught.value.detail["error"]["code"] == "policy_unavailable"
    assert caught.value.headers == {"retry-after": "5"}


async def test_policy_error_passes_in_fail_mode_open() -> None:
    store = ScriptedStore({"prompt": RuntimeError("engine crashed")})
    data = dict(REQUEST)
    assert await pre_call(guardrail(store, "pre_call", fail_mode="open"), data) is data


async def test_clean_answer_passes_unchanged() -> None:
    store = ScriptedStore({"output": decision("enforce", redactions=[])})
    response = answer("Paris is the capital of France.")
    result = await guardrail(store, "post_call").async_post_call_success_hook(dict(REQUEST), None, response)
    assert result.choices[0].message.content == "Paris is the capital of France."
    assert store.inputs == [("output", answer_input("Paris is the capital of France."))]


async def test_enforced_output_with_redactions_is_redacted() -> None:
    redaction = {"field": "text", "start": 12, "end": 23, "replacement": "[REDACTED:ssn]"}
    store = ScriptedStore({"output": decision("enforce", SSN_VIOLATION, redactions=[redaction])})
    response = answer("The SSN is: 123-45-6789.")
    result = await guardrail(store, "post_call").async_post_call_success_hook(dict(REQUEST), None, response)
    assert result.choices[0].message.content == "The SSN is: [REDACTED:ssn]."


async def test_enforced_output_violation_without_redactions_is_blocked() -> None:
    store = ScriptedStore({"output": decision("enforce", SSN_VIOLATION, redactions=[])})
    with pytest.raises(HTTPException) as caught:
        await guardrail(store, "post_call").async_post_call_success_hook(
            dict(REQUEST), None, answer("The SSN is: 123-45-6789.")
        )
    assert caught.value.status_code == 400
    assert caught.value.detail["error"]["code"] == "output_policy_violation"
    assert "123-45-6789" not in repr(caught.value.detail)


async def test_stale_redaction_span_blocks_instead_of_guessing() -> None:
    redaction = {"field": "text", "start": 100, "end": 110, "replacement": "[REDACTED]"}
    store = ScriptedStore({"output": decision("enforce", SSN_VIOLATION, redactions=[redaction])})
    with pytest.raises(HTTPException) as caught:
        await guardrail(store, "post_call").async_post_call_success_hook(dict(REQUEST), None, answer("short"))
    assert caught.value.status_code == 400


def test_missing_bundle_parameter_is_not_a_value_error() -> None:
    # LiteLLM skips a guardrail whose constructor raises ValueError/TypeError and starts the
    # proxy without it; the guardrail must stop the proxy instead.
    with pytest.raises(GuardrailConfigError) as caught:
        PolicyBundleGuardrail(guardrail_name="policy-prompt", event_hook="pre_call")
    assert not isinstance(caught.value, ValueError | TypeError)


def test_unloadable_bundle_stops_the_proxy(tmp_path: Any) -> None:
    with pytest.raises(GuardrailConfigError, match="cannot load the policy bundle"):
        PolicyBundleGuardrail(
            guardrail_name="policy-prompt",
            event_hook="pre_call",
            policy_bundle=str(tmp_path / "missing.tar.gz"),
        )


def test_bundle_from_an_unset_environment_variable_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POLICY_BUNDLE_PATH", raising=False)
    with pytest.raises(GuardrailConfigError, match="unset environment variable"):
        PolicyBundleGuardrail(
            guardrail_name="policy-prompt",
            event_hook="pre_call",
            policy_bundle="os.environ/POLICY_BUNDLE_PATH",
        )


async def test_overlapping_redactions_leave_no_fragment() -> None:
    redactions = [
        {"field": "text", "start": 0, "end": 6, "replacement": "[A]"},
        {"field": "text", "start": 4, "end": 10, "replacement": "[B]"},
    ]
    store = ScriptedStore({"output": decision("enforce", SSN_VIOLATION, redactions=redactions)})
    result = await guardrail(store, "post_call").async_post_call_success_hook(
        dict(REQUEST), None, answer("0123456789tail")
    )
    assert result.choices[0].message.content == "[A]tail"


def stream_of(*texts: str) -> list[ModelResponseStream]:
    return [ModelResponseStream(choices=[StreamingChoices(index=0, delta=Delta(content=text))]) for text in texts]


async def run_stream(g: PolicyBundleGuardrail, chunks: list[ModelResponseStream]) -> list[Any]:
    async def upstream() -> AsyncIterator[ModelResponseStream]:
        for chunk in chunks:
            yield chunk

    hook = g.async_post_call_streaming_iterator_hook(None, upstream(), dict(REQUEST))
    return [chunk async for chunk in hook]


async def test_streamed_answer_is_checked_whole_before_any_chunk_leaves() -> None:
    store = ScriptedStore({"output": decision("enforce", SSN_VIOLATION, redactions=[])})
    g = guardrail(store, "post_call")
    with pytest.raises(HTTPException) as caught:
        await run_stream(g, stream_of("The SSN ", "is: 123-", "45-6789."))
    assert caught.value.status_code == 400
    # After the mode probe, the policy saw the answer as one text, so a match split across
    # chunks is still found.
    assert store.inputs == [
        ("output", answer_input("")),
        ("output", answer_input("The SSN is: 123-45-6789.")),
    ]


async def test_streamed_answer_with_redactions_reassembles_to_the_redacted_text() -> None:
    redaction = {"field": "text", "start": 12, "end": 23, "replacement": "[REDACTED:ssn]"}
    store = ScriptedStore({"output": decision("enforce", SSN_VIOLATION, redactions=[redaction])})
    chunks = await run_stream(guardrail(store, "post_call"), stream_of("The SSN ", "is: 123-", "45-6789."))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "The SSN is: [REDACTED:ssn]."


async def test_clean_stream_passes_unchanged() -> None:
    store = ScriptedStore({"output": decision("enforce", redactions=[])})
    chunks = await run_stream(guardrail(store, "post_call"), stream_of("Par", "is."))
    assert [c.choices[0].delta.content for c in chunks] == ["Par", "is."]


def test_a_subclass_keeps_the_hooks_litellm_looks_up_on_the_leaf_class() -> None:
    class Tuned(PolicyBundleGuardrail):
        pass

    for name in (
        "async_pre_call_hook",
        "async_post_call_success_hook",
        "async_post_call_streaming_iterator_hook",
    ):
        assert name in Tuned.__dict__


async def test_monitor_verdicts_are_reported_in_the_gateways_decision_headers() -> None:
    store = ScriptedStore({"prompt": decision("monitor", SSN_VIOLATION), "output": decision("monitor", redactions=[])})
    data = dict(REQUEST, metadata={})
    await pre_call(guardrail(store, "pre_call"), data)
    output = guardrail(store, "post_call")
    await output.async_post_call_success_hook(data, None, answer("fine"))
    assert await output.async_post_call_response_headers_hook(data, None, None) == {
        "x-policy-decision": "monitor",
        "x-policy-version": "prompt=1.0.0,output=1.0.0",
        "x-policy-categories": "pii",
    }
    # LiteLLM's own guardrail logging got both decisions too (spend logs, Langfuse, ...).
    logged = data["metadata"]["standard_logging_guardrail_information"]
    assert [entry["guardrail_status"] for entry in logged] == ["guardrail_flagged", "success"]


class ReloadingStore(ScriptedStore):
    def __init__(self, decisions: Mapping[str, dict[str, Any] | Exception]) -> None:
        super().__init__(decisions)
        self.reloads = 0

    def reload_if_changed(self) -> bool:
        self.reloads += 1
        return True


async def test_the_bundle_is_checked_for_changes_once_per_interval_off_the_request_path() -> None:
    now = [100.0]
    store = ReloadingStore({"prompt": decision("enforce")})
    g = PolicyBundleGuardrail(
        guardrail_name="policy-prompt",
        event_hook="pre_call",
        store=store,
        reload_interval_s=5,
        clock=lambda: now[0],
    )
    await pre_call(g, dict(REQUEST))
    assert g.reloader is None
    now[0] += 5
    await pre_call(g, dict(REQUEST))
    assert g.reloader is not None
    g.reloader.join(timeout=5)
    first = g.reloader
    await pre_call(g, dict(REQUEST))
    assert (store.reloads, g.reloader) == (1, first)


async def test_monitored_stream_passes_at_once_and_is_checked_whole_afterwards() -> None:
    store = ScriptedStore({"output": decision("monitor", SSN_VIOLATION, redactions=[])})
    g = guardrail(store, "post_call")
    data = dict(REQUEST, metadata={})

    async def upstream() -> AsyncIterator[ModelResponseStream]:
        for chunk in stream_of("The SSN ", "is: 123-", "45-6789."):
            yield chunk

    released: list[Any] = []
    async for chunk in g.async_post_call_streaming_iterator_hook(None, upstream(), data):
        released.append(chunk)
        # Only the mode probe has been asked so far; the answer is checked after the last chunk.
        assert [text for _, text in store.inputs] == [answer_input("")]
    assert [c.choices[0].delta.content for c in released] == ["The SSN ", "is: 123-", "45-6789."]
    assert store.inputs[-1] == ("output", answer_input("The SSN is: 123-45-6789."))
    assert data["metadata"]["policy_guardrail_verdicts"][-1]["action"] == "monitor"
