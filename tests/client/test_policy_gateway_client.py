"""HttpPolicyGatewayClient against fake upstreams on httpx's transport seam: routing, breaker,
fail modes, typed errors, streaming, and the blocking wrapper. Time is injected into the breaker."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import runtime.client as client_pkg
from runtime.breaker import BreakerState, CircuitBreaker
from runtime.client import (
    BYPASS_EVENT,
    ClientConfig,
    HttpPolicyGatewayClient,
    LlmProviderUnavailable,
    PolicyGatewayConfigError,
    PolicyGatewayError,
    PolicyGatewayUnavailable,
    PolicyViolation,
    SyncPolicyGatewayClient,
    UpstreamHTTPError,
    error_from_body,
)
from runtime.telemetry import BREAKER_EVENT

GATEWAY = "http://gateway.test/v1"
LITELLM = "http://litellm.test/v1"
REQUEST = {"model": "chat-default", "messages": [{"role": "user", "content": "hi"}]}

Reply = Callable[[httpx.Request], httpx.Response]


def completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }


def violation(categories: list[str]) -> dict[str, Any]:
    return {
        "error": {
            "message": "the prompt policy blocked this request",
            "type": "policy_violation",
            "code": "prompt_policy_violation",
            "policy": "prompt",
            "policy_version": "1.0.0",
            "categories": categories,
        }
    }


def content_of(answer: dict[str, Any]) -> str:
    return str(answer["choices"][0]["message"]["content"])


class Upstreams:
    """Two fake hosts behind one transport; each records what it received."""

    def __init__(self) -> None:
        self.gateway: Reply = lambda _: httpx.Response(200, json=completion("from gateway"))
        self.litellm: Reply = lambda _: httpx.Response(200, json=completion("from litellm"))
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host.split(".")[0]
        self.calls.append((host, json.loads(request.content)))
        return self.gateway(request) if host == "gateway" else self.litellm(request)

    def hosts(self) -> list[str]:
        return [host for host, _ in self.calls]


def down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def upstreams() -> Upstreams:
    return Upstreams()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_client(
    upstreams: Upstreams,
    clock: Clock | None = None,
    *,
    on_bypass: Callable[[str], None] | None = None,
    **overrides: Any,
) -> HttpPolicyGatewayClient:
    config = ClientConfig(
        **{
            "enable_policy_gateway": True,
            "policy_gateway_url": GATEWAY,
            "llm_provider_url": LITELLM,
            **overrides,
        }
    )
    breaker = None
    if clock is not None:
        from runtime.telemetry import breaker_event_listener

        breaker = CircuitBreaker("client", clock=clock, listeners=[breaker_event_listener()])
    return HttpPolicyGatewayClient(
        config,
        breaker=breaker,
        transport=httpx.MockTransport(upstreams.handle),
        on_bypass=on_bypass,
    )


# --- configuration -----------------------------------------------------------------------------


def test_public_names_are_the_documented_ones() -> None:
    assert sorted(client_pkg.__all__) == sorted(
        [
            "BYPASS_EVENT",
            "DEFAULT_LLM_PROVIDER_URL",
            "DEFAULT_POLICY_GATEWAY_URL",
            "ClientConfig",
            "HttpPolicyGatewayClient",
            "LlmProviderUnavailable",
            "PolicyGatewayConfigError",
            "PolicyGatewayError",
            "PolicyGatewayPort",
            "PolicyGatewayUnavailable",
            "PolicyViolation",
            "SyncPolicyGatewayClient",
            "UpstreamHTTPError",
            "error_from_body",
        ]
    )


def test_config_from_empty_environment_uses_the_seed_defaults() -> None:
    assert ClientConfig.from_env({}) == ClientConfig(
        enable_policy_gateway=False,
        policy_gateway_url="http://policy-gateway:8080/v1",
        llm_provider_url="http://llm-provider:8001/v1",
        fail_mode="closed",
    )


def test_config_reads_the_dual_mode_variables() -> None:
    config = ClientConfig.from_env(
        {
            "LLM_ENABLE_POLICY_GATEWAY": "true",
            "LLM_POLICY_GATEWAY_URL": "http://gw:9/v1",
            "LLM_PROVIDER_URL": "http://llm:1/v1",
            "POLICY_GATEWAY_FAIL_MODE": "open",
            "SEA_ENV": "staging",
            "LLM_POLICY_GATEWAY_API_KEY": "sk-app",
            "LLM_PROVIDER_API_KEY": "sk-litellm",
        }
    )
    assert (config.enable_policy_gateway, config.fail_mode) == (True, "open")
    assert (config.api_key, config.provider_api_key) == ("sk-app", "sk-litellm")
    assert (config.policy_gateway_url, config.llm_provider_url) == (
        "http://gw:9/v1",
        "http://llm:1/v1",
    )


def test_config_falls_back_to_the_compiled_gateway_settings(tmp_path: Path) -> None:
    settings = tmp_path / "gateway.json"
    settings.write_text(
        json.dumps(
            {
                "sea_env": "production",
                "enable_policy_gateway": True,
                "fail_mode": "closed",
                "llm_provider_url": "http://llm-provider:8001/v1",
                "circuit_breaker": {"failure_threshold": 3, "reset_timeout_s": 10.0},
            }
        )
    )
    config = ClientConfig.from_env({}, settings_path=settings)
    assert config.enable_policy_gateway is True
    assert config.sea_env == "production"
    assert (config.failure_threshold, config.reset_timeout_s) == (3, 10.0)
    # An explicit variable still wins over the compiled value.
    off = ClientConfig.from_env({"LLM_ENABLE_POLICY_GATEWAY": "false"}, settings_path=settings)
    assert off.enable_policy_gateway is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LLM_ENABLE_POLICY_GATEWAY": "maybe"}, "is not a boolean"),
        ({"POLICY_GATEWAY_FAIL_MODE": "bypass"}, "is not 'closed' or 'open'"),
        (
            {"POLICY_GATEWAY_FAIL_MODE": "open", "SEA_ENV": "production"},
            "not allowed with SEA_ENV=production",
        ),
    ],
)
def test_unusable_configuration_is_refused_at_construction(env: dict[str, str], message: str) -> None:
    with pytest.raises(PolicyGatewayConfigError, match=message):
        ClientConfig.from_env(env)


# --- routing -----------------------------------------------------------------------------------


async def test_gateway_on_sends_every_call_through_the_gateway(upstreams: Upstreams) -> None:
    async with make_client(upstreams) as client:
        assert content_of(await client.chat_completions(REQUEST)) == "from gateway"
    assert upstreams.calls == [("gateway", {**REQUEST, "stream": False})]


async def test_gateway_off_goes_straight_to_litellm(upstreams: Upstreams) -> None:
    async with make_client(upstreams, enable_policy_gateway=False) as client:
        assert content_of(await client.chat_completions(REQUEST)) == "from litellm"
    assert upstreams.hosts() == ["litellm"]


async def test_each_route_gets_its_own_key(upstreams: Upstreams) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=completion("ok"))

    upstreams.litellm = record
    async with make_client(
        upstreams, enable_policy_gateway=False, api_key="sk-gw", provider_api_key="sk-llm"
    ) as client:
        await client.chat_completions(REQUEST)
    assert seen[0].headers["authorization"] == "Bearer sk-llm"


async def test_api_key_and_path_are_sent(upstreams: Upstreams) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=completion("ok"))

    upstreams.gateway = record
    async with make_client(upstreams, api_key="sk-test") as client:
        await client.chat_completions(REQUEST)
    assert seen[0].url.path == "/v1/chat/completions"
    assert seen[0].headers["authorization"] == "Bearer sk-test"


# --- typed errors ------------------------------------------------------------------------------


async def test_policy_block_is_a_policy_violation_with_categories_and_version(
    upstreams: Upstreams,
) -> None:
    upstreams.gateway = lambda _: httpx.Response(400, json=violation(["pii", "jailbreak"]))
    async with make_client(upstreams) as client:
        with pytest.raises(PolicyViolation) as caught:
            await client.chat_completions(REQUEST)
        assert client.breaker.failure_count == 0
    error = caught.value
    assert (error.status, error.policy, error.policy_version) == (400, "prompt", "1.0.0")
    assert error.categories == ("pii", "jailbreak")
    assert error.code == "prompt_policy_violation"


async def test_other_4xx_are_typed_and_never_open_the_breaker(upstreams: Upstreams) -> None:
    upstreams.gateway = lambda _: httpx.Response(
        429,
        headers={"retry-after": "7"},
        json={"error": {"message": "slow down", "type": "rate_limit_error", "code": "rl"}},
    )
    async with make_client(upstreams) as client:
        for _ in range(6):
            with pytest.raises(UpstreamHTTPError) as caught:
                await client.chat_completions(REQUEST)
            assert (caught.value.status, caught.value.retry_after_s) == (429, 7.0)
        assert client.breaker.state is BreakerState.CLOSED


def test_litellm_wrapped_guardrail_detail_is_a_policy_violation() -> None:
    # What LiteLLM 1.106 answers for the guardrail's HTTPException(400, detail={"error": {...}}).
    wrapped = {
        "error": {
            "message": "the request was blocked by the prompt policy 1.0.0 (categories: pii)",
            "type": "invalid_request_error",
            "param": None,
            "code": "400",
            "provider_specific_fields": {
                "error": violation(["pii"])["error"],
                "guardrail_name": "policy-prompt",
                "guardrail_mode": "pre_call",
            },
        }
    }
    error = error_from_body(400, wrapped)
    assert isinstance(error, PolicyViolation)
    assert (error.policy, error.policy_version, error.categories) == ("prompt", "1.0.0", ("pii",))


def test_a_plain_litellm_error_stays_an_http_error() -> None:
    error = error_from_body(400, {"error": {"message": "bad model", "type": "invalid_request_error", "code": "400"}})
    assert isinstance(error, UpstreamHTTPError)
    assert (error.status, error.type) == (400, "invalid_request_error")


async def test_litellm_down_on_the_direct_route_is_provider_unavailable(
    upstreams: Upstreams,
) -> None:
    upstreams.litellm = down
    async with make_client(upstreams, enable_policy_gateway=False) as client:
        with pytest.raises(LlmProviderUnavailable):
            await client.chat_completions(REQUEST)


# --- fail mode closed --------------------------------------------------------------------------


async def test_closed_gateway_down_raises_and_never_calls_the_model(upstreams: Upstreams) -> None:
    upstreams.gateway = down
    async with make_client(upstreams) as client:
        with pytest.raises(PolicyGatewayUnavailable) as caught:
            await client.chat_completions(REQUEST)
    assert caught.value.reason == "connect_error"
    assert upstreams.hosts() == ["gateway"]


async def test_gateway_503_counts_as_failure_and_keeps_its_retry_after(
    upstreams: Upstreams,
) -> None:
    upstreams.gateway = lambda _: httpx.Response(503, headers={"retry-after": "12"}, json={})
    async with make_client(upstreams) as client:
        with pytest.raises(PolicyGatewayUnavailable) as caught:
            await client.chat_completions(REQUEST)
        assert client.breaker.failure_count == 1
    assert (caught.value.reason, caught.value.retry_after_s) == ("http_503", 12.0)


async def test_five_failures_open_the_breaker_and_30s_later_one_probe_recovers(
    upstreams: Upstreams, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="policy_gateway.events")
    upstreams.gateway = lambda _: httpx.Response(502, json={})
    async with make_client(upstreams, clock) as client:
        for _ in range(5):
            with pytest.raises(PolicyGatewayUnavailable):
                await client.chat_completions(REQUEST)
        assert client.breaker.state is BreakerState.OPEN
        with pytest.raises(PolicyGatewayUnavailable) as caught:
            await client.chat_completions(REQUEST)
        assert (caught.value.reason, caught.value.retry_after_s) == ("circuit_open", 30.0)
        assert upstreams.hosts() == ["gateway"] * 5

        upstreams.gateway = lambda _: httpx.Response(200, json=completion("back"))
        clock.now += 30
        assert content_of(await client.chat_completions(REQUEST)) == "back"
        assert client.breaker.state is BreakerState.CLOSED

    events = [r for r in caplog.records if getattr(r, "event", None) == BREAKER_EVENT]
    transitions = [(r.attributes["previous_state"], r.attributes["state"]) for r in events]  # type: ignore[attr-defined]
    assert transitions == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert events[0].attributes["failure_count"] == 5  # type: ignore[attr-defined]
    assert isinstance(events[0].attributes["timestamp"], float)  # type: ignore[attr-defined]


async def test_a_failed_probe_keeps_refusing(upstreams: Upstreams, clock: Clock) -> None:
    upstreams.gateway = down
    async with make_client(upstreams, clock) as client:
        for _ in range(5):
            with pytest.raises(PolicyGatewayUnavailable):
                await client.chat_completions(REQUEST)
        clock.now += 30
        with pytest.raises(PolicyGatewayUnavailable, match="connect_error"):
            await client.chat_completions(REQUEST)
        with pytest.raises(PolicyGatewayUnavailable, match="circuit_open"):
            await client.chat_completions(REQUEST)
    assert upstreams.hosts() == ["gateway"] * 6


# --- fail mode open ----------------------------------------------------------------------------


async def test_open_gateway_down_calls_litellm_and_emits_a_bypass_event(
    upstreams: Upstreams, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="policy_gateway.events")
    upstreams.gateway = down
    reasons: list[str] = []
    async with make_client(upstreams, fail_mode="open", on_bypass=reasons.append) as client:
        assert content_of(await client.chat_completions(REQUEST)) == "from litellm"
    assert upstreams.hosts() == ["gateway", "litellm"]
    assert reasons == ["connect_error"]
    bypass = [r for r in caplog.records if getattr(r, "event", None) == BYPASS_EVENT]
    assert [r.attributes["reason"] for r in bypass] == ["connect_error"]  # type: ignore[attr-defined]


async def test_open_breaker_bypasses_without_trying_the_gateway(upstreams: Upstreams, clock: Clock) -> None:
    upstreams.gateway = lambda _: httpx.Response(503, json={})
    async with make_client(upstreams, clock, fail_mode="open") as client:
        for _ in range(7):
            assert content_of(await client.chat_completions(REQUEST)) == "from litellm"
    assert upstreams.hosts().count("gateway") == 5
    assert upstreams.hosts().count("litellm") == 7


async def test_a_policy_block_is_never_bypassed_in_fail_mode_open(upstreams: Upstreams) -> None:
    upstreams.gateway = lambda _: httpx.Response(400, json=violation(["jailbreak"]))
    async with make_client(upstreams, fail_mode="open") as client:
        with pytest.raises(PolicyViolation):
            await client.chat_completions(REQUEST)
    assert upstreams.hosts() == ["gateway"]


# --- streaming ---------------------------------------------------------------------------------


def sse(*events: str) -> httpx.Response:
    body = "".join(f"data: {event}\n\n" for event in events)
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, text=body)


def chunk(text: str) -> str:
    return json.dumps({"object": "chat.completion.chunk", "choices": [{"delta": {"content": text}}]})


async def test_stream_yields_chunks_until_done(upstreams: Upstreams) -> None:
    upstreams.gateway = lambda _: sse(chunk("Hel"), chunk("lo"), "[DONE]", chunk("never"))
    async with make_client(upstreams) as client:
        parts = [c["choices"][0]["delta"]["content"] async for c in client.stream_chat_completions(REQUEST)]
    assert parts == ["Hel", "lo"]
    assert upstreams.calls[0][1]["stream"] is True


async def test_error_event_mid_stream_is_a_policy_violation(upstreams: Upstreams) -> None:
    upstreams.gateway = lambda _: sse(chunk("My SSN is"), json.dumps(violation(["pii"])))
    seen: list[dict[str, Any]] = []
    async with make_client(upstreams) as client:
        with pytest.raises(PolicyViolation):
            async for part in client.stream_chat_completions(REQUEST):
                seen.append(part)
    assert len(seen) == 1


async def test_stream_refused_by_closed_fail_mode_raises_before_any_chunk(
    upstreams: Upstreams,
) -> None:
    upstreams.gateway = down
    async with make_client(upstreams) as client:
        with pytest.raises(PolicyGatewayUnavailable):
            async for _ in client.stream_chat_completions(REQUEST):
                pytest.fail("no chunk expected")


# --- blocking wrapper --------------------------------------------------------------------------


def test_sync_wrapper_shares_one_breaker_across_calls(upstreams: Upstreams) -> None:
    config = ClientConfig(enable_policy_gateway=True, policy_gateway_url=GATEWAY, llm_provider_url=LITELLM)
    with SyncPolicyGatewayClient(config, transport=httpx.MockTransport(upstreams.handle)) as client:
        assert content_of(client.chat_completions(REQUEST)) == "from gateway"
        upstreams.gateway = lambda _: sse(chunk("a"), chunk("b"), "[DONE]")
        parts = [c["choices"][0]["delta"]["content"] for c in client.stream_chat_completions(REQUEST)]
        assert parts == ["a", "b"]
        upstreams.gateway = down
        for _ in range(5):
            with pytest.raises(PolicyGatewayUnavailable):
                client.chat_completions(REQUEST)
        assert client.breaker.state is BreakerState.OPEN


async def test_stream_refused_with_an_event_body_is_a_policy_violation(
    upstreams: Upstreams,
) -> None:
    # LiteLLM's guardrail refusing a stream before its first chunk: status 400, body one event.
    wrapped = {
        "error": {
            "message": "blocked",
            "type": "invalid_request_error",
            "code": "400",
            "provider_specific_fields": {"error": violation(["pii"])["error"]},
        }
    }
    upstreams.litellm = lambda _: httpx.Response(
        400,
        headers={"content-type": "text/event-stream"},
        text=f"data: {json.dumps(wrapped)}\n\ndata: [DONE]\n\n",
    )
    async with make_client(upstreams, enable_policy_gateway=False) as client:
        with pytest.raises(PolicyViolation) as caught:
            async for _ in client.stream_chat_completions(REQUEST):
                pytest.fail("no chunk expected")
    assert caught.value.categories == ("pii",)


async def test_a_stream_cut_off_midway_is_a_typed_error(upstreams: Upstreams) -> None:
    class CutOff(httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            yield f"data: {chunk('Hel')}\n\n".encode()
            raise httpx.ReadError("connection reset")

    upstreams.gateway = lambda _: httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=CutOff())
    seen: list[dict[str, Any]] = []
    async with make_client(upstreams) as client:
        with pytest.raises(PolicyGatewayError, match="cut off"):
            async for part in client.stream_chat_completions(REQUEST):
                seen.append(part)
    assert len(seen) == 1
