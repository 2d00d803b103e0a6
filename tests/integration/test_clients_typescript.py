"""The TypeScript adapter against the real stack (the same gateway, LiteLLM proxy and fake provider
as the Python client's suite). Each test runs one scenario through clients/typescript's driver
(`node dist/test/drive.js`), which uses the real adapter and reports every outcome as JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_stack import CLIENT_KEYS, LITELLM_MASTER_KEY, free_port, spec_versions

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CLIENT_DIR = REPO / "clients" / "typescript"
CLEAN_PROMPT = "What is the capital of France?"
PII_PROMPT = "Please email the report to jane.doe@example.com today."
DEFAULT_REPLY = "Hello from the fake provider."
CLIENT_KEY = CLIENT_KEYS[32]


def call(content: str, *, stream: bool = False) -> dict[str, Any]:
    step: dict[str, Any] = {"call": {"model": "chat-default", "messages": [{"role": "user", "content": content}]}}
    if stream:
        step["stream"] = True
    return step


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.fixture(scope="module")
def driver() -> Path:
    """The adapter and its driver compiled with tsc (dependencies from the lockfile, installed by
    scripts/setup)."""
    npm = shutil.which("npm")
    assert npm, "npm is not installed (scripts/setup installs Node and the client's dependencies)"
    assert (CLIENT_DIR / "node_modules").is_dir(), "run scripts/setup (npm ci in clients/typescript)"
    subprocess.run([npm, "run", "build", "--silent"], cwd=CLIENT_DIR, check=True)
    return CLIENT_DIR / "dist" / "test" / "drive.js"


@pytest.fixture(autouse=True)
def clean_provider(fake_provider: Any) -> Iterator[None]:
    fake_provider.reset()
    yield
    fake_provider.reset()


@pytest.fixture
def drive(driver: Path, staging_gateway: Any, litellm_proxy: Any) -> Callable[..., dict[str, Any]]:
    def run(steps: list[dict[str, Any]], **config: Any) -> dict[str, Any]:
        scenario = {
            "config": {
                "enablePolicyGateway": True,
                "policyGatewayUrl": f"{staging_gateway.url}/v1",
                "llmProviderUrl": f"{litellm_proxy.url}/v1",
                "failMode": "closed",
                "apiKey": CLIENT_KEY,
                "providerApiKey": LITELLM_MASTER_KEY,
                "timeoutMs": 15000,
                **config,
            },
            "steps": steps,
        }
        node = shutil.which("node")
        assert node, "node is not installed"
        result = subprocess.run(
            [node, str(driver), json.dumps(scenario)], capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        outcome: dict[str, Any] = json.loads(result.stdout)
        return outcome

    return run


def prompts_seen(fake_provider: Any) -> list[str]:
    return [r["body"]["messages"][-1]["content"] for r in fake_provider.requests()]


def test_allowed_and_blocked_prompts_through_the_gateway(
    drive: Callable[..., dict[str, Any]], fake_provider: Any
) -> None:
    results = drive([call(CLEAN_PROMPT), call(PII_PROMPT), call(CLEAN_PROMPT, stream=True)])["results"]
    assert results[0] == {"ok": True, "content": DEFAULT_REPLY, "breaker": "closed"}
    blocked = results[1]
    assert blocked["error"] == "PolicyViolation"
    assert (blocked["status"], blocked["policy"]) == (403, "prompt")
    assert blocked["policyVersion"] == spec_versions()["prompt"]
    assert "pii" in blocked["categories"]
    assert blocked["breaker"] == "closed"
    assert results[2] == {"ok": True, "content": DEFAULT_REPLY, "breaker": "closed"}
    assert prompts_seen(fake_provider) == [CLEAN_PROMPT, CLEAN_PROMPT]


def test_gateway_down_fail_closed_never_calls_the_model(
    drive: Callable[..., dict[str, Any]], fake_provider: Any
) -> None:
    results = drive([call(CLEAN_PROMPT)] * 6, policyGatewayUrl=dead_url())["results"]
    assert [r["error"] for r in results] == ["PolicyGatewayUnavailable"] * 6
    assert [r["reason"] for r in results] == ["connect_error"] * 5 + ["circuit_open"]
    assert results[-1]["breaker"] == "open"
    assert fake_provider.requests() == []


def test_gateway_down_fail_open_calls_litellm_and_emits_a_bypass_event(
    drive: Callable[..., dict[str, Any]], fake_provider: Any
) -> None:
    outcome = drive([call(CLEAN_PROMPT)], policyGatewayUrl=dead_url(), failMode="open")
    assert outcome["results"] == [{"ok": True, "content": DEFAULT_REPLY, "breaker": "closed"}]
    assert outcome["bypasses"] == ["connect_error"]
    bypass = [e for e in outcome["events"] if e["name"] == "policy_gateway.bypass"]
    assert [e["attributes"]["reason"] for e in bypass] == ["connect_error"]
    assert prompts_seen(fake_provider) == [CLEAN_PROMPT]


def test_breaker_opens_on_gateway_failures_and_recovers_with_one_probe(
    drive: Callable[..., dict[str, Any]], start_gateway: Callable[..., Any], fake_provider: Any
) -> None:
    gateway = start_gateway("staging", upstream=fake_provider.base_url, POLICY_GATEWAY_CB_RESET_TIMEOUT_S="1")
    control = f"{fake_provider.base_url}/_control"
    outcome = drive(
        [
            {"post": control, "json": {"mode": "fail"}},
            *[call(CLEAN_PROMPT)] * 6,
            {"post": control, "json": {"mode": "ok"}},
            {"sleep": 1.3},
            call(CLEAN_PROMPT),
        ],
        policyGatewayUrl=f"{gateway.url}/v1",
        resetTimeoutS=1,
    )
    results = outcome["results"]
    assert all(r["error"] == "PolicyGatewayUnavailable" for r in results[:6])
    assert results[4]["breaker"] == "open"
    assert results[5]["reason"] == "circuit_open"
    assert results[6] == {"ok": True, "content": DEFAULT_REPLY, "breaker": "closed"}
    changes = [e["attributes"] for e in outcome["events"] if e["name"] == "policy_gateway.circuit_breaker.state_change"]
    assert [(c["previous_state"], c["state"]) for c in changes] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert changes[0]["failure_count"] == 5
    assert isinstance(changes[0]["timestamp"], float)


def test_dual_mode_off_goes_straight_to_litellm(drive: Callable[..., dict[str, Any]], fake_provider: Any) -> None:
    outcome = drive([call(PII_PROMPT)], enablePolicyGateway=False, policyGatewayUrl=dead_url())
    assert outcome["results"] == [{"ok": True, "content": DEFAULT_REPLY, "breaker": "closed"}]
    assert prompts_seen(fake_provider) == [PII_PROMPT]
