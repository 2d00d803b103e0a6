"""The compiled policies inside a real LiteLLM proxy (`guardrails: in_proxy`): the config and the
bundle gatewayctl emits, the proxy started on them, only the model provider faked.

staging runs the policies in `enforce` (a violating prompt is answered 400 with the decision and
never reaches the provider; a violating answer is redacted), dev in `monitor` (everything passes).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_stack import (
    LITELLM_MASTER_KEY,
    LiteLLMProxy,
    compile_project,
    emitted_guardrails,
    litellm_test_config,
    spec_versions,
)
from ruamel.yaml import YAML

from runtime.client import ClientConfig, HttpPolicyGatewayClient, PolicyViolation

pytestmark = pytest.mark.integration

PII_PROMPT = "Please email the report to jane.doe@example.com today."
CLEAN_PROMPT = "What is the capital of France?"
SSN_REPLY = "Sure. The number on file is 123-45-6789."
DEFAULT_REPLY = "Hello from the fake provider."


@pytest.fixture(scope="module")
def compiled(fake_provider: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project compiled with staging switched to `guardrails: in_proxy` too (dev has it in
    specs/; staging enforces, so blocking is visible)."""

    def guard_staging(specs: dict[str, Any]) -> None:
        specs["gateway"]["environments"]["staging"]["guardrails"] = "in_proxy"

    return compile_project(tmp_path_factory.mktemp("guarded"), fake_provider.base_url, guard_staging)


def guarded_config(compiled: Path, env: str, provider_url: str) -> Path:
    """The integration suite's LiteLLM test config (models served by the fake provider) plus the
    `guardrails:` section gatewayctl emitted. Written next to the emitted config, so the
    guardrail finds the bundle by the emitted relative path."""
    guardrails = emitted_guardrails(compiled, env)
    return litellm_test_config(compiled, env, provider_url, guardrails=guardrails, name="guarded-config.yaml")


def start_proxy(config: Path, log: Path) -> LiteLLMProxy:
    proxy = LiteLLMProxy(config, log)
    try:
        return proxy.start()
    except BaseException:
        proxy.stop()
        raise


@pytest.fixture(scope="module")
def staging_proxy(
    compiled: Path,
    fake_provider: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    config = guarded_config(compiled, "staging", fake_provider.base_url)
    proxy = start_proxy(config, tmp_path_factory.mktemp("litellm-staging") / "proxy.log")
    yield proxy.url
    proxy.stop()


@pytest.fixture(scope="module")
def dev_proxy(
    compiled: Path,
    fake_provider: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    config = guarded_config(compiled, "dev", fake_provider.base_url)
    proxy = start_proxy(config, tmp_path_factory.mktemp("litellm-dev") / "proxy.log")
    yield proxy.url
    proxy.stop()


@pytest.fixture(autouse=True)
def clean_provider(fake_provider: Any) -> Iterator[None]:
    fake_provider.reset()
    yield
    fake_provider.reset()


def chat(url: str, content: str, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        headers={"authorization": f"Bearer {LITELLM_MASTER_KEY}"},
        json={"model": "chat-default", "messages": [{"role": "user", "content": content}], **body},
        timeout=30,
    )


def guardrail_error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]["provider_specific_fields"]["error"]
    return error


def prompts_seen(fake_provider: Any) -> list[str]:
    return [r["body"]["messages"][0]["content"] for r in fake_provider.requests()]


# --- the emitted config ------------------------------------------------------------------------


def test_emitted_guardrails_run_the_bundle_before_and_after_the_call(compiled: Path) -> None:
    config = YAML(typ="safe").load((compiled / "dev" / "litellm" / "config.yaml").read_text())
    assert config["guardrails"] == [
        {
            "guardrail_name": f"policy-{policy}",
            "litellm_params": {
                "guardrail": "runtime.litellm_guardrail.PolicyBundleGuardrail",
                "mode": hook,
                "default_on": True,
                "policy_bundle": "../opa/bundle.tar.gz",
                "fail_mode": "closed",
            },
        }
        for policy, hook in (("prompt", "pre_call"), ("output", "post_call"))
    ]
    assert (compiled / "dev" / "opa" / "bundle.tar.gz").is_file()
    prod = YAML(typ="safe").load((compiled / "prod" / "litellm" / "config.yaml").read_text())
    assert "guardrails" not in prod


# --- enforce (staging) -------------------------------------------------------------------------


def test_allowed_prompt_passes_through_to_the_provider(staging_proxy: str, fake_provider: Any) -> None:
    response = chat(staging_proxy, CLEAN_PROMPT)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == DEFAULT_REPLY
    assert response.headers["x-policy-decision"] == "allow"
    assert response.headers["x-policy-version"] == "prompt={prompt},output={output}".format(**spec_versions())
    assert prompts_seen(fake_provider) == [CLEAN_PROMPT]


def test_blocked_prompt_is_400_with_the_decision_and_never_reaches_the_provider(
    staging_proxy: str, fake_provider: Any
) -> None:
    response = chat(staging_proxy, PII_PROMPT)
    assert response.status_code == 400, response.text
    error = guardrail_error(response)
    assert error["type"] == "policy_violation"
    assert (error["policy"], error["policy_version"]) == ("prompt", spec_versions()["prompt"])
    assert "pii" in error["categories"]
    decision = error["decision"]
    assert (decision["allow"], decision["mode"]) == (False, "enforce")
    assert any(v["category"] == "pii" for v in decision["violations"])
    assert "jane.doe@example.com" not in response.text
    assert fake_provider.requests() == []


def test_violating_answer_is_redacted_before_it_reaches_the_caller(staging_proxy: str, fake_provider: Any) -> None:
    fake_provider.control(reply=SSN_REPLY)
    response = chat(staging_proxy, CLEAN_PROMPT)
    assert response.status_code == 200, response.text
    content = response.json()["choices"][0]["message"]["content"]
    assert "123-45-6789" not in content
    assert content.startswith("Sure. The number on file is ")
    assert response.headers["x-policy-decision"] == "redact"


def test_violating_streamed_answer_is_redacted_before_any_chunk_leaves(staging_proxy: str, fake_provider: Any) -> None:
    # The fake provider splits the number across chunks (8 characters each).
    fake_provider.control(reply=SSN_REPLY)
    response = chat(staging_proxy, CLEAN_PROMPT, stream=True)
    assert response.status_code == 200, response.text
    events = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
    chunks = [json.loads(event) for event in events if event != "[DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.startswith("Sure. The number on file is ")
    assert "123-45-6789" not in response.text
    assert "45-6789" not in text


async def test_python_client_on_the_direct_route_raises_policy_violation(staging_proxy: str) -> None:
    config = ClientConfig(
        enable_policy_gateway=False,
        llm_provider_url=f"{staging_proxy}/v1",
        provider_api_key=LITELLM_MASTER_KEY,
    )
    async with HttpPolicyGatewayClient(config) as client:
        with pytest.raises(PolicyViolation) as caught:
            await client.chat_completions(
                {"model": "chat-default", "messages": [{"role": "user", "content": PII_PROMPT}]}
            )
        answer = await client.chat_completions(
            {"model": "chat-default", "messages": [{"role": "user", "content": CLEAN_PROMPT}]}
        )
    assert (caught.value.policy, caught.value.policy_version) == ("prompt", spec_versions()["prompt"])
    assert "pii" in caught.value.categories
    assert answer["choices"][0]["message"]["content"] == DEFAULT_REPLY


# --- monitor (dev) -----------------------------------------------------------------------------


def test_monitor_mode_lets_a_violating_prompt_and_answer_through_and_reports_them(
    dev_proxy: str, fake_provider: Any
) -> None:
    fake_provider.control(reply=SSN_REPLY)
    response = chat(dev_proxy, PII_PROMPT)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == SSN_REPLY
    assert response.headers["x-policy-decision"] == "monitor"
    assert "pii" in response.headers["x-policy-categories"].split(",")
    assert prompts_seen(fake_provider) == [PII_PROMPT]


def test_monitor_mode_streams_a_violating_answer_unchanged(dev_proxy: str, fake_provider: Any) -> None:
    fake_provider.control(reply=SSN_REPLY)
    response = chat(dev_proxy, CLEAN_PROMPT, stream=True)
    assert response.status_code == 200, response.text
    events = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
    chunks = [json.loads(event) for event in events if event != "[DONE]"]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == SSN_REPLY


# --- configuration mistakes never start an unguarded proxy -------------------------------------


def test_a_missing_bundle_stops_the_proxy_instead_of_running_unguarded(
    compiled: Path, fake_provider: Any, tmp_path: Path
) -> None:
    yaml = YAML(typ="safe")
    config = yaml.load(guarded_config(compiled, "staging", fake_provider.base_url).read_text())
    for entry in config["guardrails"]:
        entry["litellm_params"]["policy_bundle"] = "../opa/no-such-bundle.tar.gz"
    path = compiled / "staging" / "litellm" / "broken-config.yaml"
    with path.open("w") as f:
        YAML().dump(config, f)
    log = tmp_path / "proxy.log"
    with pytest.raises(AssertionError, match="process exited"):
        start_proxy(path, log)
    assert "cannot load the policy bundle" in log.read_text()


# --- policy rollout without a restart ------------------------------------------------------------


def test_a_recompiled_bundle_takes_effect_without_restarting_the_proxy(fake_provider: Any, tmp_path: Path) -> None:
    def guard_staging(specs: dict[str, Any]) -> None:
        specs["gateway"]["environments"]["staging"]["guardrails"] = "in_proxy"

    def guard_staging_in_monitor(specs: dict[str, Any]) -> None:
        guard_staging(specs)
        specs["policies"]["policies"]["prompt"]["mode"]["staging"] = "monitor"

    enforcing = compile_project(tmp_path / "enforce", fake_provider.base_url, guard_staging)
    monitoring = compile_project(tmp_path / "monitor", fake_provider.base_url, guard_staging_in_monitor)
    yaml = YAML(typ="safe")
    config = yaml.load(guarded_config(enforcing, "staging", fake_provider.base_url).read_text())
    for entry in config["guardrails"]:
        entry["litellm_params"]["reload_interval_s"] = 0.2
    path = enforcing / "staging" / "litellm" / "reloading-config.yaml"
    with path.open("w") as f:
        YAML().dump(config, f)
    proxy = start_proxy(path, tmp_path / "proxy.log")
    try:
        assert chat(proxy.url, PII_PROMPT).status_code == 400
        bundle = enforcing / "staging" / "opa" / "bundle.tar.gz"
        staged = bundle.with_suffix(".new")
        staged.write_bytes((monitoring / "staging" / "opa" / "bundle.tar.gz").read_bytes())
        staged.replace(bundle)  # atomic, as a deployment's file swap would be
        deadline = time.monotonic() + 15
        while (response := chat(proxy.url, PII_PROMPT)).status_code != 200:
            assert response.status_code == 400, response.text
            assert time.monotonic() < deadline, "the recompiled bundle was never picked up"
            time.sleep(0.2)
        assert response.headers["x-policy-decision"] == "monitor"
    finally:
        proxy.stop()
