"""The Python client against the real stack: the gateway (`gatewayctl serve`, staging, policies in
enforce), the LiteLLM proxy, Redis; only the model provider is faked. Allowed, blocked, streamed,
gateway down in both fail modes, breaker open and recovery, dual-mode off."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gateway_stack import CLIENT_KEYS, LITELLM_MASTER_KEY, free_port, spec_versions

from runtime.breaker import BreakerState, CircuitBreaker
from runtime.client import (
    ClientConfig,
    HttpPolicyGatewayClient,
    PolicyGatewayUnavailable,
    PolicyViolation,
    SyncPolicyGatewayClient,
)
from runtime.telemetry import BREAKER_EVENT, breaker_event_listener

pytestmark = pytest.mark.integration

CLEAN_PROMPT = "What is the capital of France?"
PII_PROMPT = "Please email the report to jane.doe@example.com today."
DEFAULT_REPLY = "Hello from the fake provider."
# A key of its own, so the gateway's per-key rate limit never couples these tests to others.
CLIENT_KEY = CLIENT_KEYS[31]


def request(content: str) -> dict[str, Any]:
    return {"model": "chat-default", "messages": [{"role": "user", "content": content}]}


def content_of(answer: dict[str, Any]) -> str:
    return str(answer["choices"][0]["message"]["content"])


def prompts_seen(fake_provider: Any) -> list[str]:
    return [r["body"]["messages"][-1]["content"] for r in fake_provider.requests()]


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.fixture(autouse=True)
def clean_provider(fake_provider: Any) -> Iterator[None]:
    fake_provider.reset()
    yield
    fake_provider.reset()


@pytest.fixture
def config(staging_gateway: Any, litellm_proxy: Any) -> Callable[..., ClientConfig]:
    def make(**overrides: Any) -> ClientConfig:
        values: dict[str, Any] = {
            "enable_policy_gateway": True,
            "policy_gateway_url": f"{staging_gateway.url}/v1",
            "llm_provider_url": f"{litellm_proxy.url}/v1",
            "api_key": CLIENT_KEY,
            "provider_api_key": LITELLM_MASTER_KEY,
            "timeout_s": 15.0,
            **overrides,
        }
        return ClientConfig(**values)

    return make


async def test_allowed_prompt_goes_through_the_gateway(config: Callable[..., ClientConfig], fake_provider: Any) -> None:
    async with HttpPolicyGatewayClient(config()) as client:
        assert content_of(await client.chat_completions(request(CLEAN_PROMPT))) == DEFAULT_REPLY
    assert prompts_seen(fake_provider) == [CLEAN_PROMPT]


async def test_blocked_prompt_raises_policy_violation_with_version_and_categories(
    config: Callable[..., ClientConfig], fake_provider: Any
) -> None:
    async with HttpPolicyGatewayClient(config()) as client:
        with pytest.raises(PolicyViolation) as caught:
            await client.chat_completions(request(PII_PROMPT))
        assert client.breaker.failure_count == 0
    assert caught.value.status == 403
    assert (caught.value.policy, caught.value.policy_version) == ("prompt", spec_versions()["prompt"])
    assert "pii" in caught.value.categories
    assert "jane.doe" not in str(caught.value)
    assert fake_provider.requests() == []


async def test_streamed_answer_through_the_gateway(config: Callable[..., ClientConfig]) -> None:
    async with HttpPolicyGatewayClient(config()) as client:
        parts = [
            chunk["choices"][0]["delta"].get("content") or ""
            async for chunk in client.stream_chat_completions(request(CLEAN_PROMPT))
            if chunk.get("choices")
        ]
    assert "".join(parts) == DEFAULT_REPLY


def test_blocking_wrapper_through_the_gateway(config: Callable[..., ClientConfig]) -> None:
    with SyncPolicyGatewayClient(config()) as client:
        assert content_of(client.chat_completions(request(CLEAN_PROMPT))) == DEFAULT_REPLY
        with pytest.raises(PolicyViolation):
            client.chat_completions(request(PII_PROMPT))


async def test_gateway_down_fail_closed_never_calls_the_model(
    config: Callable[..., ClientConfig], fake_provider: Any
) -> None:
    async with HttpPolicyGatewayClient(config(policy_gateway_url=dead_url())) as client:
        for _ in range(6):
            with pytest.raises(PolicyGatewayUnavailable):
                await client.chat_completions(request(CLEAN_PROMPT))
        assert client.breaker.state is BreakerState.OPEN
    assert fake_provider.requests() == []


async def test_gateway_down_fail_open_calls_litellm_directly_and_reports_the_bypass(
    config: Callable[..., ClientConfig], fake_provider: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="policy_gateway.events")
    bypasses: list[str] = []
    cfg = config(policy_gateway_url=dead_url(), fail_mode="open")
    async with HttpPolicyGatewayClient(cfg, on_bypass=bypasses.append) as client:
        assert content_of(await client.chat_completions(request(CLEAN_PROMPT))) == DEFAULT_REPLY
    assert bypasses == ["connect_error"]
    assert [r.attributes["reason"] for r in caplog.records if getattr(r, "event", "") == "policy_gateway.bypass"] == [  # type: ignore[attr-defined]
        "connect_error"
    ]
    assert prompts_seen(fake_provider) == [CLEAN_PROMPT]


async def test_breaker_opens_on_gateway_failures_and_recovers_with_one_probe(
    config: Callable[..., ClientConfig],
    start_gateway: Callable[..., Any],
    fake_provider: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="policy_gateway.events")
    # A gateway of its own, straight in front of the fake provider, so the provider's failures
    # come back as the gateway's 5xx; its own breaker waits 1 s before probing.
    gateway = start_gateway("staging", upstream=fake_provider.base_url, POLICY_GATEWAY_CB_RESET_TIMEOUT_S="1")
    breaker = CircuitBreaker("client", 5, 1.0, listeners=[breaker_event_listener()])
    fake_provider.control(mode="fail")
    async with HttpPolicyGatewayClient(config(policy_gateway_url=f"{gateway.url}/v1"), breaker=breaker) as client:
        for _ in range(5):
            with pytest.raises(PolicyGatewayUnavailable) as caught:
                await client.chat_completions(request(CLEAN_PROMPT))
            assert caught.value.reason.startswith("http_5")
        assert breaker.state is BreakerState.OPEN
        reached = len(fake_provider.requests())
        with pytest.raises(PolicyGatewayUnavailable) as refused:
            await client.chat_completions(request(CLEAN_PROMPT))
        assert refused.value.reason == "circuit_open"
        assert len(fake_provider.requests()) == reached  # refused without a network call

        fake_provider.control(mode="ok")
        await asyncio.sleep(1.3)  # past both breakers' reset timeouts (integration: real time)
        assert content_of(await client.chat_completions(request(CLEAN_PROMPT))) == DEFAULT_REPLY
        assert breaker.state is BreakerState.CLOSED
    changes = [
        (r.attributes["previous_state"], r.attributes["state"])  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "event", "") == BREAKER_EVENT and r.attributes["breaker"] == "client"  # type: ignore[attr-defined]
    ]
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


async def test_dual_mode_off_goes_straight_to_litellm(config: Callable[..., ClientConfig], fake_provider: Any) -> None:
    # The gateway URL is dead: had the client used it, the call would fail.
    cfg = config(enable_policy_gateway=False, policy_gateway_url=dead_url())
    async with HttpPolicyGatewayClient(cfg) as client:
        answer = await client.chat_completions(request(PII_PROMPT))
    assert content_of(answer) == DEFAULT_REPLY
    # Straight to LiteLLM means no gateway policy: this proxy runs no in-proxy guardrail either.
    assert prompts_seen(fake_provider) == [PII_PROMPT]
