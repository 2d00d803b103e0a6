"""Identity end to end: two clients with two keys of the specs (specs/identity.yaml) call a real
LiteLLM proxy through a real gateway. LiteLLM itself refuses the model one key may not use,
enforces a key's budget from the spend it computed, and records each call's spend under the
right key and team (its prometheus metrics); a client cannot pass as another key."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_stack import (
    LITELLM_MASTER_KEY,
    FakeProviderProcess,
    Gateway,
    LiteLLMProxy,
    RedisServer,
    compile_project,
    gateway_environ,
    launch_gateway,
    litellm_test_config,
)
from ruamel.yaml import YAML

from runtime.identity_header import IDENTITY_HEADER

pytestmark = pytest.mark.integration

KEYS = {  # the values the environment gives the keys' variables
    "research-notebooks": "sk-research-0123456789",
    "support-bot": "sk-support-0123456789",
    "tight": "sk-tight-0123456789",
}
PRICE_IN, PRICE_OUT = 1e-6, 2e-6  # USD per token, set on the models below
TIGHT_BUDGET = 6e-5  # about two short calls at these prices


def _priced_with_tight_key(specs: dict[str, Any]) -> None:
    for model in specs["backends"]["models"]:
        model["litellm_params"].update(input_cost_per_token=PRICE_IN, output_cost_per_token=PRICE_OUT)
    specs["identity"]["keys"]["tight"] = {
        "key": "os.environ/GATEWAY_KEY_TIGHT",
        "models": ["chat-default"],
        "max_budget": TIGHT_BUDGET,
        "budget_duration": "1d",
    }


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, fake_provider: FakeProviderProcess
) -> Iterator[tuple[Path, LiteLLMProxy]]:
    root = tmp_path_factory.mktemp("identity")
    generated = compile_project(root, fake_provider.base_url, _priced_with_tight_key)
    config = litellm_test_config(generated, "staging", fake_provider.base_url)
    yaml = YAML()
    data = yaml.load(config.read_text())
    data["litellm_settings"]["callbacks"] = ["otel", "prometheus"]  # spend per key and team, for the test to read
    with config.open("w") as f:
        yaml.dump(data, f)
    proxy = LiteLLMProxy(config, root / "litellm.log").start()
    yield generated, proxy
    proxy.stop()


@pytest.fixture(scope="module")
def gateway(
    stack: tuple[Path, LiteLLMProxy], redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    generated, proxy = stack
    environ = gateway_environ(
        proxy.url,
        redis_server.url,
        POLICY_GATEWAY_API_KEYS="",
        GATEWAY_KEY_RESEARCH_NOTEBOOKS=KEYS["research-notebooks"],
        GATEWAY_KEY_SUPPORT_BOT=KEYS["support-bot"],
        GATEWAY_KEY_TIGHT=KEYS["tight"],
    )
    started = launch_gateway(generated, "staging", environ, tmp_path_factory.mktemp("gw") / "gateway.log")
    yield started
    started.stop()


def _chat(gateway: Gateway, key: str, model: str, **headers: str) -> httpx.Response:
    return gateway.chat("Say hello.", key=KEYS[key], model=model, max_tokens=10, headers=headers)


def _cost(answer: httpx.Response) -> float:
    usage = answer.json()["usage"]
    return float(usage["prompt_tokens"] * PRICE_IN + usage["completion_tokens"] * PRICE_OUT)


def _spend_by_key(proxy: LiteLLMProxy) -> dict[tuple[str, str], float]:
    """LiteLLM's litellm_spend_metric_total summed by (api_key_alias, team)."""
    metrics = httpx.get(
        f"{proxy.url}/metrics/", headers={"authorization": f"Bearer {LITELLM_MASTER_KEY}"}, timeout=10
    )
    metrics.raise_for_status()
    out: dict[tuple[str, str], float] = {}
    for line in metrics.text.splitlines():
        if not line.startswith("litellm_spend_metric_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        value = float(line.rsplit(" ", 1)[1])
        pair = (labels["api_key_alias"], labels["team"])
        out[pair] = out.get(pair, 0.0) + value
    return out


def _until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "LiteLLM did not record it in time"
        time.sleep(0.1)


def test_litellm_refuses_a_model_the_key_may_not_call(gateway: Gateway) -> None:
    allowed = _chat(gateway, "support-bot", "chat-default")
    assert allowed.status_code == 200, allowed.text
    refused = _chat(gateway, "support-bot", "gpt-4o-mini")
    assert refused.status_code == 403, refused.text
    # LiteLLM's own refusal (the gateway knows the model and would have let it through)
    assert refused.json()["error"]["type"] == "key_model_access_denied"
    assert _chat(gateway, "research-notebooks", "gpt-4o-mini").status_code == 200


def test_a_client_cannot_name_another_key(gateway: Gateway, stack: tuple[Path, LiteLLMProxy]) -> None:
    spoofed = _chat(gateway, "support-bot", "gpt-4o-mini", **{IDENTITY_HEADER: "research-notebooks"})
    assert spoofed.status_code == 403
    assert spoofed.json()["error"]["type"] == "key_model_access_denied"
    # and straight at LiteLLM, a client key (not the master key) naming another counts for nothing
    _, proxy = stack
    direct = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {KEYS['support-bot']}", IDENTITY_HEADER: "research-notebooks"},
        timeout=30,
    )
    assert direct.status_code == 401  # LiteLLM here is not given the keys: clients go through the gateway


def test_spend_is_recorded_per_key_and_team(gateway: Gateway, stack: tuple[Path, LiteLLMProxy]) -> None:
    _, proxy = stack
    before = _spend_by_key(proxy)
    support = [_chat(gateway, "support-bot", "chat-default") for _ in range(2)]
    research = [_chat(gateway, "research-notebooks", "gpt-4o-mini") for _ in range(3)]
    assert all(r.status_code == 200 for r in support + research)
    expected = {
        ("support-bot", "support"): sum(map(_cost, support)),
        ("research-notebooks", "research"): sum(map(_cost, research)),
    }
    assert all(cost > 0 for cost in expected.values())

    def recorded() -> dict[tuple[str, str], float]:
        now = _spend_by_key(proxy)
        return {pair: now.get(pair, 0.0) - before.get(pair, 0.0) for pair in expected}

    _until(lambda: all(abs(recorded()[p] - expected[p]) < 1e-12 for p in expected))
    assert "litellm_proxy_master_key" not in str(_spend_by_key(proxy))  # no call ran as the gateway itself


def test_litellm_enforces_a_key_budget_from_its_own_spend(gateway: Gateway) -> None:
    statuses: list[int] = []
    for _ in range(10):
        answer = _chat(gateway, "tight", "chat-default")
        statuses.append(answer.status_code)
        if answer.status_code != 200:
            break
    assert statuses[0] == 200 and statuses[-1] != 200, statuses
    assert answer.json()["error"]["type"] == "budget_exceeded"
    assert "Max budget: 6e-05" in answer.json()["error"]["message"]
