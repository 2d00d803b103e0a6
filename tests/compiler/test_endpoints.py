"""The endpoint table compiled from the specs: which endpoints an environment exposes by default,
what serves them, and what gateway.json, the LiteLLM config and the docs say about them."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.emit import docs, gateway_settings, litellm
from compiler.endpoints import IN_PROXY_UNCHECKED, LITELLM_MODES, default_endpoints
from compiler.model._base import Capability
from compiler.pipeline import check
from compiler.plan import EnvPlan, build_plan
from runtime.endpoints import ENDPOINTS

MINIMAL = Path(__file__).resolve().parents[1] / "specs" / "good" / "minimal.yaml"
MODELS = {
    "chat": "openai/llama",
    "completions": "text-completion-openai/instruct",
    "embeddings": "openai/embed",
    "images": "openai/dall-e-3",
    "speech": "openai/tts-1",
    "transcription": "openai/whisper-1",
    "moderations": "openai/omni-moderation-latest",
    "rerank": "cohere/rerank-v3.5",
}


def plan_of(
    tmp_path: Path, capabilities: list[str], extra: str = "", gateway: str = "", backends: str = "", dev: str = ""
) -> dict[str, EnvPlan]:
    """The plan of the minimal spec with one model per capability on backend `b`, plus `extra`
    sections, `gateway` keys, more `backends` and another `dev` environment."""
    text = MINIMAL.read_text()
    if dev:
        text = text.replace("  dev: {sea_env: development, enable_policy_gateway: false}\n", dev)
    head, rest = text.split("backends:\n", 1)
    policies = rest[rest.index("policies:") :]
    models = "".join(
        f"  - name: m-{c}\n    backend: b\n    capability: {c}\n    litellm_params: {{model: {MODELS[c]}}}\n"
        for c in capabilities
    )
    spec = (
        head
        + (f"gateway:\n{gateway}" if gateway else "")
        + f"backends:\n  b:\n    base_url: http://b:8000/v1\n    capabilities: [{', '.join(capabilities)}]\n"
        + backends
        + f"models:\n{models}{extra}{policies}"
    )
    (tmp_path / "specs").mkdir(exist_ok=True)
    (tmp_path / "specs" / "spec.yaml").write_text(spec)
    return {env.name: env for env in build_plan(check(tmp_path)).environments}


MCP = "mcp_servers:\n  docs_search: {url: http://mcp-docs:8000/mcp, transport: http}\n"
AGENTS = "agents:\n  triage: {url: http://agents:9000/a2a, description: Sorts tickets.}\n"


def test_model_capabilities_are_those_the_endpoint_table_names() -> None:
    named = {e.capability for e in ENDPOINTS.values()} - {None, "mcp", "a2a"}
    assert set(typing.get_args(Capability)) == named
    assert set(LITELLM_MODES) == named


def test_what_the_in_proxy_guardrail_cannot_check_names_endpoints() -> None:
    assert set(IN_PROXY_UNCHECKED) <= set(ENDPOINTS)


@pytest.mark.parametrize(
    ("capabilities", "mcp", "agents", "expected"),
    [
        (["chat"], False, False, ["chat", "responses", "messages", "files", "batches"]),
        (["embeddings"], False, False, ["embeddings", "files", "batches"]),
        (["images"], False, False, ["images_generations", "images_edits"]),
        (["speech", "transcription"], False, False, ["audio_speech", "audio_transcriptions"]),
        (["rerank"], True, True, ["rerank", "mcp", "a2a"]),
        ([], True, False, ["mcp"]),
        (list(MODELS), True, True, list(ENDPOINTS)),
    ],
)
def test_default_endpoints_follow_the_models_servers_and_agents(
    capabilities: list[str], mcp: bool, agents: bool, expected: list[str]
) -> None:
    assert list(default_endpoints(capabilities, mcp_servers=mcp, agents=agents)) == expected


def test_an_environment_serves_only_the_models_servers_and_agents_of_its_endpoints(tmp_path: Path) -> None:
    envs = plan_of(tmp_path, ["chat", "speech", "rerank"], MCP + AGENTS, gateway="  endpoints: [chat, rerank]\n")
    dev = envs["dev"]
    assert [e.name for e in dev.endpoints] == ["chat", "rerank"]
    assert [m.name for m in dev.models] == ["m-chat", "m-rerank"]
    assert (dev.mcp_servers, dev.agents, dev.files_backend) == ((), (), None)
    config = litellm.config(dev)
    assert not {"mcp_servers", "agents", "files_settings"} & set(config)


def test_the_example_staging_exposes_every_endpoint(project: Path) -> None:
    envs = {env.name: env for env in build_plan(check(project)).environments}
    for name in ("staging", "prod"):
        assert [e.name for e in envs[name].endpoints] == list(ENDPOINTS)
        assert all(e.served_by for e in envs[name].endpoints), name
    assert {e.name for e in envs["dev"].endpoints}.isdisjoint(IN_PROXY_UNCHECKED)


def test_gateway_json_carries_the_endpoint_table_servers_agents_and_payload_policy(tmp_path: Path) -> None:
    envs = plan_of(tmp_path, ["chat", "images"], MCP + AGENTS)
    settings = json.loads(gateway_settings.render_env(envs["prod"])["gateway.json"])
    assert list(settings["endpoints"]) == sorted(settings["endpoints"])
    assert settings["endpoints"]["files"] == {
        "capability": None,
        "title": ENDPOINTS["files"].title,
        "routes": [
            "POST /v1/files",
            "GET /v1/files",
            "GET /v1/files/{file_id}",
            "DELETE /v1/files/{file_id}",
            "GET /v1/files/{file_id}/content",
        ],
    }
    assert settings["endpoints"]["a2a"]["capability"] == "a2a"
    assert settings["mcp_servers"] == ["docs_search"]
    assert settings["agents"] == ["triage"]
    assert settings["backends"]["b"]["payload_policy"] == {"images_format": "url", "max_image_bytes": None}


def test_the_runtime_reads_what_gateway_json_says(tmp_path: Path) -> None:
    from runtime.settings import load_settings

    envs = plan_of(tmp_path, ["chat", "images"], MCP + AGENTS)
    out = tmp_path / "generated" / "prod"
    out.mkdir(parents=True)
    (out / "gateway.json").write_text(gateway_settings.render_env(envs["prod"])["gateway.json"])
    settings = load_settings("prod", tmp_path / "generated", environ={})
    assert set(settings.endpoints) == {e.name for e in envs["prod"].endpoints}
    assert (settings.mcp_servers, settings.agents) == (("docs_search",), ("triage",))
    assert settings.backends["b"].images_format == "url"


def test_litellm_config_has_a_mode_per_capability_and_the_other_upstreams(tmp_path: Path) -> None:
    envs = plan_of(tmp_path, list(MODELS), MCP + AGENTS)
    config = litellm.config(envs["prod"])
    modes = {m["model_name"]: m["model_info"]["mode"] for m in config["model_list"]}
    assert modes == {f"m-{c}": LITELLM_MODES[c] for c in MODELS}
    assert config["mcp_servers"] == {"docs_search": {"url": "http://mcp-docs:8000/mcp", "transport": "http"}}
    [agent] = config["agents"]
    assert agent["agent_name"] == "triage"
    card = agent["agent_card_params"]
    assert (card["name"], card["url"], card["description"]) == ("triage", "http://agents:9000/a2a", "Sorts tickets.")
    assert config["files_settings"] == [{"custom_llm_provider": "openai", "api_base": "http://b:8000/v1"}]


def test_files_go_to_the_named_backend_with_its_key(tmp_path: Path) -> None:
    hosted = "  hosted:\n    base_url: https://api.example.com/v1\n    capabilities: [chat]\n"
    hosted += "    api_key_env: HOSTED_API_KEY\n"
    envs = plan_of(tmp_path, ["chat"], "litellm:\n  files_backend: hosted\n", backends=hosted)
    [files] = litellm.config(envs["prod"])["files_settings"]
    assert files == {
        "custom_llm_provider": "openai",
        "api_base": "https://api.example.com/v1",
        "api_key": "os.environ/HOSTED_API_KEY",
    }


def guardrails(env: EnvPlan) -> list[dict[str, Any]]:
    config: dict[str, Any] = yaml.safe_load(litellm.render_env(env)["litellm/config.yaml"])
    return list(config.get("guardrails", []))


def test_mcp_servers_get_their_own_guardrail_in_the_proxy(tmp_path: Path) -> None:
    dev_in_proxy = "  dev: {sea_env: development, enable_policy_gateway: false, guardrails: in_proxy}\n"
    envs = plan_of(tmp_path, ["chat"], MCP, dev=dev_in_proxy)
    entries = {g["guardrail_name"]: g["litellm_params"] for g in guardrails(envs["dev"])}
    assert list(entries) == ["policy-prompt", "policy-output", "policy-mcp"]
    assert entries["policy-prompt"]["mode"] == "pre_call"
    assert entries["policy-output"]["mode"] == "post_call"
    mcp = entries["policy-mcp"]
    assert mcp["guardrail"] == "runtime.litellm_guardrail.PolicyMcpGuardrail"
    assert mcp["mode"] == ["pre_mcp_call", "post_mcp_call"]
    assert {k: mcp[k] for k in ("default_on", "policy_bundle", "fail_mode")} == {
        "default_on": True,
        "policy_bundle": "../opa/bundle.tar.gz",
        "fail_mode": "closed",
    }
    assert guardrails(envs["prod"]) == []  # the gateway checks prod; no in-proxy guardrails


def test_endpoints_doc_lists_each_environments_endpoints_and_what_serves_them(tmp_path: Path) -> None:
    envs = plan_of(tmp_path, ["chat", "rerank"], MCP)
    text = docs.endpoints_section(envs["prod"])
    assert text.startswith("## prod\n")
    assert "| `rerank`: rerank | `POST /v1/rerank` | rerank | `m-rerank` |" in text
    assert "| `mcp`: " in text and "MCP servers `docs_search`" in text
    assert "backend `b`; batch lines name `m-chat`" in text
