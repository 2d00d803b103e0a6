"""The compiled policies inside a real LiteLLM proxy (`guardrails: in_proxy`): the config and the
bundle gatewayctl emits (plus the `policy-mcp` entry for PolicyMcpGuardrail), the proxy started on
them with every endpoint's upstream, only the model provider faked.

staging runs the policies in `enforce` (a violating prompt is refused with 403 and never reaches
the provider; a violating answer is redacted, plain and streamed), dev in `monitor` (everything
passes, reported in the headers). A third proxy compiles the output policy with `action: block`.
What each LiteLLM route makes of a refusal (status, body, headers) is the table in
LITELLM_ENDPOINTS.md ("Our guardrail"); the rows below check it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from endpoint_calls import (
    ANSWER_HEADERS,
    ANSWERS,
    AUTH,
    CALLS,
    CLEAN_PROMPT,
    CRASHES,
    DEFAULT_REPLY,
    JAILBREAK_PROMPT,
    PII,
    PII_PROMPT,
    REBUILT,
    REFUSAL_HEADERS,
    SSN,
    SSN_REPLY,
    STREAMED,
    batch_line,
    call,
    exposed_endpoints,
    guard_staging,
    guarded_config,
    mcp_result,
    refusal_error,
    sse_events,
    start_proxy,
    stream,
    stream_slot,
)
from gateway_stack import (
    LITELLM_MASTER_KEY,
    compile_project,
    next_minor,
    spec_versions,
)
from ruamel.yaml import YAML

from runtime.client import ClientConfig, HttpPolicyGatewayClient, PolicyViolation

pytestmark = pytest.mark.integration



# --- the stack -------------------------------------------------------------------------------------




@pytest.fixture(scope="module")
def compiled(fake_provider: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project compiled with staging switched to `guardrails: in_proxy` too (dev has it in
    specs/; staging enforces, so refusals are visible)."""
    return compile_project(tmp_path_factory.mktemp("guarded"), fake_provider.base_url, guard_staging)


def run_proxy(generated: Path, env: str, provider_url: str, log_dir: Path) -> Iterator[str]:
    proxy = start_proxy(guarded_config(generated, env, provider_url), log_dir / "proxy.log")
    yield proxy.url
    proxy.stop()


@pytest.fixture(scope="module")
def compiled_blocking(fake_provider: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """staging with the output policy's action `block` instead of `redact` (a new policy version)."""

    def blocking(specs: dict[str, Any]) -> None:
        guard_staging(specs)
        specs["policies"]["policies"]["output"]["action"] = "block"

    version = next_minor(spec_versions()["output"])
    return compile_project(tmp_path_factory.mktemp("blocking"), fake_provider.base_url, blocking, {"output": version})


@pytest.fixture(scope="module")
def staging_proxy(compiled: Path, fake_provider: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from run_proxy(compiled, "staging", fake_provider.base_url, tmp_path_factory.mktemp("litellm-staging"))


@pytest.fixture(scope="module")
def dev_proxy(compiled: Path, fake_provider: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from run_proxy(compiled, "dev", fake_provider.base_url, tmp_path_factory.mktemp("litellm-dev"))


@pytest.fixture(scope="module")
def blocking_proxy(
    compiled_blocking: Path, fake_provider: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from run_proxy(compiled_blocking, "staging", fake_provider.base_url, tmp_path_factory.mktemp("litellm-block"))


@pytest.fixture(autouse=True)
def clean_provider(fake_provider: Any) -> Iterator[None]:
    fake_provider.reset()
    yield
    fake_provider.reset()


# --- the endpoints, as a client calls them ------------------------------------------------------------




# --- the emitted config ------------------------------------------------------------------------------


def test_emitted_guardrails_run_the_bundle_before_and_after_the_call(compiled: Path) -> None:
    config = YAML(typ="safe").load((compiled / "dev" / "litellm" / "config.yaml").read_text())
    entries = {g["guardrail_name"]: g["litellm_params"] for g in config["guardrails"]}
    for policy, hook in (("prompt", "pre_call"), ("output", "post_call")):
        assert entries[f"policy-{policy}"] == {
            "guardrail": "runtime.litellm_guardrail.PolicyBundleGuardrail",
            "mode": hook,
            "default_on": True,
            "policy_bundle": "../opa/bundle.tar.gz",
            # what the bundle must prove, as the gateway's gateway.json says it
            "bundle_trust": json.loads((compiled / "dev" / "gateway.json").read_text())["policy_bundle"],
            "fail_mode": "closed",
        }
    assert (compiled / "dev" / "opa" / "bundle.tar.gz").is_file()
    prod = YAML(typ="safe").load((compiled / "prod" / "litellm" / "config.yaml").read_text())
    assert "guardrails" not in prod


# --- prompts (staging: enforce) -----------------------------------------------------------------------

FORWARDED = [e for e in CALLS if e != "mcp"]


@pytest.mark.parametrize("endpoint", FORWARDED)
def test_clean_request_is_forwarded_and_answered(staging_proxy: str, fake_provider: Any, endpoint: str) -> None:
    if endpoint == "batches":
        call(staging_proxy, "files", CLEAN_PROMPT)  # the input file it names
    response = call(staging_proxy, endpoint, CLEAN_PROMPT)
    assert response.status_code == 200, response.text
    assert fake_provider.saw(CLEAN_PROMPT)


# The prompt policy looks for jailbreak phrases only in texts with a role (rego/prompt_policy.rego:
# _users): chat and Anthropic messages here; a completions prompt, say, has none.
VIOLATIONS = [
    *[(e, PII_PROMPT, "pii") for e in FORWARDED],
    *[(e, JAILBREAK_PROMPT, "jailbreak") for e in ("chat", "messages")],
]


@pytest.mark.parametrize(("endpoint", "prompt", "category"), VIOLATIONS)
def test_violating_prompt_is_refused_with_403_and_never_forwarded(
    staging_proxy: str, fake_provider: Any, endpoint: str, prompt: str, category: str
) -> None:
    response = call(staging_proxy, endpoint, prompt)
    assert not fake_provider.saw(prompt)
    if endpoint in CRASHES:
        assert (response.status_code, response.text) == (500, "Internal Server Error")
        return
    assert response.status_code == 403, response.text
    error = refusal_error(endpoint, response)
    assert error["type"] == "policy_violation"
    if endpoint in REBUILT:
        # LiteLLM rebuilds the error from its message and status: the policy's fields are lost.
        assert error["code"] == "403" and error["message"].startswith("the request was blocked by the prompt policy")
    else:
        assert (error["policy"], error["policy_version"]) == ("prompt", spec_versions()["prompt"])
        assert error["code"] == "prompt_policy_violation"
        assert category in error["categories"]
        assert error["violations"] and all("where" in v for v in error["violations"])
    if endpoint in REFUSAL_HEADERS:
        assert response.headers["x-policy-decision"] == "block"
        assert response.headers["x-policy-version"].startswith("prompt=")
        assert category in response.headers["x-policy-categories"].split(",")
    else:
        assert "x-policy-decision" not in response.headers
    assert PII not in response.text


def test_mcp_tool_call_with_a_violating_argument_is_a_tool_error_and_never_forwarded(
    staging_proxy: str, fake_provider: Any
) -> None:
    result = mcp_result(call(staging_proxy, "mcp", PII_PROMPT))
    assert result["isError"] is True
    [content] = result["content"]
    assert content["text"].startswith("Error: the request was blocked by the prompt policy")
    assert PII not in json.dumps(result)
    assert not fake_provider.saw(PII)
    sent = [r["body"] for r in fake_provider.requests() if (r["body"] or {}).get("method") == "tools/call"]
    assert sent == []


def test_mcp_tool_call_with_clean_arguments_is_forwarded(staging_proxy: str, fake_provider: Any) -> None:
    result = mcp_result(call(staging_proxy, "mcp", CLEAN_PROMPT))
    assert result == {"content": [{"type": "text", "text": DEFAULT_REPLY}], "isError": False}
    assert fake_provider.saw(CLEAN_PROMPT)


def test_a_batch_input_with_one_violating_line_is_refused_whole(staging_proxy: str, fake_provider: Any) -> None:
    content = f"{batch_line(CLEAN_PROMPT, 'ok')}\n{batch_line(PII_PROMPT, 'bad')}\n"
    response = httpx.post(
        f"{staging_proxy}/v1/files",
        headers=AUTH,
        data={"purpose": "batch"},
        files={"file": ("in.jsonl", content, "application/jsonl")},
        timeout=30,
    )
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["message"].startswith("a line of the batch input: the request was blocked")
    assert "pii" in error["categories"]
    assert fake_provider.requests() == []  # not even the clean line was uploaded


def test_an_upload_the_policy_cannot_read_is_refused(staging_proxy: str, fake_provider: Any) -> None:
    # LiteLLM hands guardrails the name and size of a file, not its content (but for batch inputs,
    # whose lines it checks one by one): the prompt policy refuses unreadable files by default.
    response = httpx.post(
        f"{staging_proxy}/v1/files",
        headers=AUTH,
        data={"purpose": "user_data"},
        files={"file": ("notes.txt", CLEAN_PROMPT, "text/plain")},
        timeout=30,
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"]["categories"] == ["unreadable"]
    assert fake_provider.requests() == []


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
    assert caught.value.status == 403
    assert (caught.value.policy, caught.value.policy_version) == ("prompt", spec_versions()["prompt"])
    assert "pii" in caught.value.categories
    assert answer["choices"][0]["message"]["content"] == DEFAULT_REPLY


# --- answers (staging: enforce, output action redact) ------------------------------------------------




@pytest.mark.parametrize("endpoint", list(ANSWERS))
def test_violating_answer_is_redacted(staging_proxy: str, fake_provider: Any, endpoint: str) -> None:
    fake_provider.control(reply=SSN_REPLY, reply_in=[ANSWERS[endpoint].slot])
    response = call(staging_proxy, endpoint, CLEAN_PROMPT)
    assert response.status_code == 200, response.text
    assert ANSWERS[endpoint].text(response) == "Sure. The number on file is [REDACTED:ssn]."
    assert SSN not in response.text
    if endpoint in ANSWER_HEADERS:
        assert response.headers["x-policy-decision"] == "redact"
        assert response.headers["x-policy-categories"] == "pii"


@pytest.mark.parametrize("endpoint", STREAMED)
def test_violating_streamed_answer_is_redacted_before_any_chunk_leaves(
    staging_proxy: str, fake_provider: Any, endpoint: str
) -> None:
    # The fake provider cuts the reply into 8-character deltas: the number is split across chunks.
    fake_provider.control(reply=SSN_REPLY, reply_in=[stream_slot(endpoint)])
    response = stream(staging_proxy, endpoint, CLEAN_PROMPT)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    streamed = ANSWERS[endpoint].streamed
    assert streamed is not None
    assert streamed(response) == "Sure. The number on file is [REDACTED:ssn]."
    assert "45-6789" not in response.text


@pytest.mark.parametrize("endpoint", STREAMED)
def test_clean_streamed_answer_passes_unchanged(staging_proxy: str, fake_provider: Any, endpoint: str) -> None:
    fake_provider.control(reply_in=[stream_slot(endpoint)])
    response = stream(staging_proxy, endpoint, CLEAN_PROMPT)
    assert response.status_code == 200, response.text
    streamed = ANSWERS[endpoint].streamed
    assert streamed is not None and streamed(response) == DEFAULT_REPLY


def test_allowed_answer_carries_the_decision_headers(staging_proxy: str, fake_provider: Any) -> None:
    response = call(staging_proxy, "chat", CLEAN_PROMPT)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == DEFAULT_REPLY
    assert response.headers["x-policy-decision"] == "allow"
    assert response.headers["x-policy-version"] == "prompt={prompt},output={output}".format(**spec_versions())


def test_transcripts_are_not_guarded_because_litellm_runs_no_hook_after_a_transcription(
    staging_proxy: str, fake_provider: Any
) -> None:
    # A known gap (LITELLM_ENDPOINTS.md): the gateway route is the answer for transcripts.
    fake_provider.control(reply=SSN_REPLY)
    response = call(staging_proxy, "audio_transcriptions", CLEAN_PROMPT)
    assert response.status_code == 200, response.text
    assert SSN in response.json()["text"]


# --- answers (output action block) ---------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", list(ANSWERS))
def test_violating_answer_is_withheld_when_the_output_policy_blocks(
    blocking_proxy: str, fake_provider: Any, endpoint: str
) -> None:
    fake_provider.control(reply=SSN_REPLY, reply_in=[ANSWERS[endpoint].slot])
    response = call(blocking_proxy, endpoint, CLEAN_PROMPT)
    assert SSN not in response.text
    if endpoint == "mcp":
        result = mcp_result(response)
        assert result["isError"] is True
        assert result["content"][0]["text"].startswith("Error: the model's answer was blocked by the output policy")
        return
    assert response.status_code == 403, response.text
    error = refusal_error(endpoint, response)
    assert error["type"] == "policy_violation"
    if endpoint not in REBUILT:
        assert (error["policy"], error["code"], error["categories"]) == ("output", "output_policy_violation", ["pii"])


@pytest.mark.parametrize("endpoint", STREAMED)
def test_violating_streamed_answer_ends_with_the_apis_error_event(
    blocking_proxy: str, fake_provider: Any, endpoint: str
) -> None:
    fake_provider.control(reply=SSN_REPLY, reply_in=[stream_slot(endpoint)])
    response = stream(blocking_proxy, endpoint, CLEAN_PROMPT)
    assert response.status_code == 200, response.text  # as on the gateway: the stream had begun
    assert "45-6789" not in response.text
    events = sse_events(response.text)
    # Nothing of the answer was sent before the refusal: the error event is the only event.
    [event] = events
    if endpoint == "a2a":
        error = event["error"]["data"]
    elif endpoint == "messages":
        assert event["type"] == "error"
        error = event["error"]
    elif endpoint == "responses":
        error = event
    else:
        error = event["error"]
    assert (error["policy"], error["code"]) == ("output", "output_policy_violation")


# --- monitor (dev) -------------------------------------------------------------------------------------


def test_monitor_mode_lets_a_violating_prompt_and_answer_through_and_reports_them(
    dev_proxy: str, fake_provider: Any
) -> None:
    fake_provider.control(reply=SSN_REPLY)
    response = call(dev_proxy, "chat", PII_PROMPT)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == SSN_REPLY
    assert response.headers["x-policy-decision"] == "monitor"
    assert "pii" in response.headers["x-policy-categories"].split(",")
    assert fake_provider.saw(PII_PROMPT)


# dev (guardrails in_proxy, monitor) exposes only what LiteLLM's hooks can check (specs/gateway.yaml)
DEV_STREAMED = [e for e in STREAMED if e in exposed_endpoints("dev")]


@pytest.mark.parametrize("endpoint", DEV_STREAMED)
def test_monitor_mode_streams_a_violating_answer_unchanged(dev_proxy: str, fake_provider: Any, endpoint: str) -> None:
    fake_provider.control(reply=SSN_REPLY, reply_in=[stream_slot(endpoint)])
    response = stream(dev_proxy, endpoint, CLEAN_PROMPT)
    assert response.status_code == 200, response.text
    streamed = ANSWERS[endpoint].streamed
    assert streamed is not None and streamed(response) == SSN_REPLY


# --- configuration mistakes never start an unguarded proxy ---------------------------------------------


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


# --- policy rollout without a restart --------------------------------------------------------------------


def test_a_recompiled_bundle_takes_effect_without_restarting_the_proxy(fake_provider: Any, tmp_path: Path) -> None:
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
        assert call(proxy.url, "chat", PII_PROMPT).status_code == 403
        bundle = enforcing / "staging" / "opa" / "bundle.tar.gz"
        staged = bundle.with_suffix(".new")
        staged.write_bytes((monitoring / "staging" / "opa" / "bundle.tar.gz").read_bytes())
        staged.replace(bundle)  # atomic, as a deployment's file swap would be
        deadline = time.monotonic() + 15
        while (response := call(proxy.url, "chat", PII_PROMPT)).status_code != 200:
            assert response.status_code == 403, response.text
            assert time.monotonic() < deadline, "the recompiled bundle was never picked up"
            time.sleep(0.2)
        assert response.headers["x-policy-decision"] == "monitor"
    finally:
        proxy.stop()
