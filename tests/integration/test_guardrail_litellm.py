"""The compiled policies inside a real LiteLLM proxy (`guardrails: in_proxy`): the config and the
bundle gatewayctl emits, the proxy started on them, only the model provider faked.

staging runs the policies in `enforce` (a violating prompt is answered 400 with the decision and
never reaches the provider; a violating answer is redacted), dev in `monitor` (everything passes).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from compiler.cli import main as gatewayctl
from runtime.client import ClientConfig, HttpPolicyGatewayClient, PolicyViolation

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LITELLM = REPO / ".venv" / "bin" / "litellm"
MASTER_KEY = "sk-guardrail-test-0123456789abcdef"
PII_PROMPT = "Please email the report to jane.doe@example.com today."
CLEAN_PROMPT = "What is the capital of France?"
SSN_REPLY = "Sure. The number on file is 123-45-6789."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(process: subprocess.Popen[Any]) -> None:
    # Each server runs in its own session; signal exactly that process group, by pid.
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def wait_ready(url: str, process: subprocess.Popen[Any], log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready after {timeout_s} s:\n{log.read_text()[-3000:]}")


@dataclass
class FakeProvider:
    base_url: str

    def control(self, **state: Any) -> None:
        httpx.post(f"{self.base_url}/_control", json=state, timeout=5).raise_for_status()

    def reset(self) -> None:
        httpx.post(f"{self.base_url}/_reset", timeout=5).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = httpx.get(f"{self.base_url}/_requests", timeout=5).json()
        return answer


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeProvider]:
    log = tmp_path_factory.mktemp("provider") / "provider.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "tests/integration/fake_provider.py"), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
            start_new_session=True,
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening "), line
        yield FakeProvider(f"http://127.0.0.1:{int(line.split()[1])}")
    finally:
        stop(process)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's specs, compiled, with staging switched to `guardrails: in_proxy` too
    (dev has it in specs/; staging enforces, so blocking is visible)."""
    root = tmp_path_factory.mktemp("project")
    for name in ("specs", "rego", "docs"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name)
    gateway = root / "specs" / "gateway.yaml"
    text = gateway.read_text()
    staging = "  staging:\n    sea_env: staging\n"
    assert staging in text
    gateway.write_text(text.replace(staging, staging + "    guardrails: in_proxy\n"))
    out = root / "generated"
    result = CliRunner().invoke(gatewayctl, ["-C", str(root), "compile", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def proxy_config(compiled: Path, env: str, provider: FakeProvider, **changes: Any) -> Path:
    """The emitted config with its models pointed at the fake provider. Written next to the
    emitted one, so the guardrail finds the bundle by the same relative path."""
    yaml = YAML(typ="safe")
    emitted = yaml.load((compiled / env / "litellm" / "config.yaml").read_text())
    config = {
        "model_list": [
            {
                "model_name": "chat-default",
                "litellm_params": {
                    "model": "openai/fake-model",
                    "api_base": f"{provider.base_url}/v1",
                    "api_key": "fake-provider-key",
                },
            }
        ],
        "general_settings": emitted["general_settings"],
        "guardrails": emitted["guardrails"],
        **changes,
    }
    path = compiled / env / "litellm" / "test-config.yaml"
    with path.open("w") as f:
        YAML().dump(config, f)
    return path


def start_proxy(config: Path, log: Path) -> tuple[subprocess.Popen[Any], str]:
    assert LITELLM.exists(), "the LiteLLM proxy is part of the stack extra; run scripts/setup"
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        # `runtime.litellm_guardrail` is imported from the repository, as in the stack image.
        "PYTHONPATH": str(REPO),
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(LITELLM), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            cwd=config.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def staging_proxy(compiled: Path, provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("litellm-staging") / "proxy.log"
    process, url = start_proxy(proxy_config(compiled, "staging", provider), log)
    try:
        wait_ready(f"{url}/health/liveliness", process, log)
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def dev_proxy(compiled: Path, provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("litellm-dev") / "proxy.log"
    process, url = start_proxy(proxy_config(compiled, "dev", provider), log)
    try:
        wait_ready(f"{url}/health/liveliness", process, log)
        yield url
    finally:
        stop(process)


@pytest.fixture(autouse=True)
def clean_provider(provider: FakeProvider) -> None:
    provider.reset()


def chat(url: str, content: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"model": "chat-default", "messages": [{"role": "user", "content": content}]},
        timeout=30,
    )


def guardrail_error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]["provider_specific_fields"]["error"]
    return error


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


def test_allowed_prompt_passes_through_to_the_provider(staging_proxy: str, provider: FakeProvider) -> None:
    response = chat(staging_proxy, CLEAN_PROMPT)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Hello from the fake provider."
    assert [r["body"]["messages"][0]["content"] for r in provider.requests()] == [CLEAN_PROMPT]


def test_blocked_prompt_is_400_with_the_decision_and_never_reaches_the_provider(
    staging_proxy: str, provider: FakeProvider
) -> None:
    response = chat(staging_proxy, PII_PROMPT)
    assert response.status_code == 400, response.text
    error = guardrail_error(response)
    assert error["type"] == "policy_violation"
    assert error["policy"] == "prompt"
    assert error["policy_version"] == "1.0.0"
    assert "pii" in error["categories"]
    decision = error["decision"]
    assert decision["allow"] is False
    assert decision["mode"] == "enforce"
    assert any(v["category"] == "pii" for v in decision["violations"])
    assert "jane.doe@example.com" not in response.text
    assert provider.requests() == []


def test_violating_answer_is_redacted_before_it_reaches_the_caller(staging_proxy: str, provider: FakeProvider) -> None:
    provider.control(reply=SSN_REPLY)
    response = chat(staging_proxy, CLEAN_PROMPT)
    assert response.status_code == 200, response.text
    content = response.json()["choices"][0]["message"]["content"]
    assert "123-45-6789" not in content
    assert content.startswith("Sure. The number on file is ")


async def test_python_client_on_the_direct_route_raises_policy_violation(
    staging_proxy: str,
) -> None:
    config = ClientConfig(enable_policy_gateway=False, llm_provider_url=f"{staging_proxy}/v1", api_key=MASTER_KEY)
    async with HttpPolicyGatewayClient(config) as client:
        with pytest.raises(PolicyViolation) as caught:
            await client.chat_completions(
                {"model": "chat-default", "messages": [{"role": "user", "content": PII_PROMPT}]}
            )
        answer = await client.chat_completions(
            {"model": "chat-default", "messages": [{"role": "user", "content": CLEAN_PROMPT}]}
        )
    assert (caught.value.policy, caught.value.policy_version) == ("prompt", "1.0.0")
    assert "pii" in caught.value.categories
    assert answer["choices"][0]["message"]["content"] == "Hello from the fake provider."


# --- monitor (dev) -----------------------------------------------------------------------------


def test_monitor_mode_lets_a_violating_prompt_and_answer_through(dev_proxy: str, provider: FakeProvider) -> None:
    provider.control(reply=SSN_REPLY)
    response = chat(dev_proxy, PII_PROMPT)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == SSN_REPLY
    assert [r["body"]["messages"][0]["content"] for r in provider.requests()] == [PII_PROMPT]


# --- configuration mistakes never start an unguarded proxy -------------------------------------


def test_a_missing_bundle_stops_the_proxy_instead_of_running_unguarded(
    compiled: Path, provider: FakeProvider, tmp_path: Path
) -> None:
    config = proxy_config(compiled, "staging", provider)
    broken = json.loads(json.dumps(YAML(typ="safe").load(config.read_text())))
    for entry in broken["guardrails"]:
        entry["litellm_params"]["policy_bundle"] = "../opa/no-such-bundle.tar.gz"
    path = config.parent / "broken-config.yaml"
    with path.open("w") as f:
        YAML().dump(broken, f)
    log = tmp_path / "proxy.log"
    process, url = start_proxy(path, log)
    try:
        with pytest.raises(AssertionError, match="exited with"):
            wait_ready(f"{url}/health/liveliness", process, log, timeout_s=90)
    finally:
        stop(process)
    assert "cannot load the policy bundle" in log.read_text()
