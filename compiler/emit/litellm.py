"""LiteLLM proxy config.yaml: model_list, router_settings, litellm_settings, general_settings, the
upstreams of the other endpoints (files_settings, mcp_servers, agents) where the environment
exposes them, and guardrails (the compiled policies in-process) where it asks for them.

Secrets are never written: keys appear as os.environ/NAME references that LiteLLM resolves.
"""

from __future__ import annotations

from typing import Any

from compiler.emit import gateway_settings, otel_env
from compiler.emit._json import dump_json
from compiler.emit._yaml import dump_yaml
from compiler.endpoints import LITELLM_MODES
from compiler.litellm_surface import providers
from compiler.litellm_surface.callbacks import CALLBACK_ENV
from compiler.plan import AgentPlan, AllowancePlan, BackendPlan, EnvPlan, McpServerPlan, ModelPlan

ENV_PREFIX = "os.environ/"


def _env_ref(name: str) -> str:
    return f"{ENV_PREFIX}{name}"


def _model_entry(model: ModelPlan) -> dict[str, Any]:
    params: dict[str, Any] = {"model": model.litellm_params["model"]}
    provider = providers.provider_of(params["model"])
    # Bedrock and Vertex authenticate by the cloud's identity: the backend's URL and key are not theirs.
    backend_is_endpoint = provider not in providers.CLOUD_IDENTITY
    if backend_is_endpoint and "api_base" not in model.litellm_params:
        params["api_base"] = model.backend.base_url
    if backend_is_endpoint and model.backend.api_key_env and "api_key" not in model.litellm_params:
        params["api_key"] = _env_ref(model.backend.api_key_env)
    params["timeout"] = model.timeout_s
    params["max_retries"] = model.retries
    params.update({k: v for k, v in sorted(model.litellm_params.items()) if k != "model"})
    return {
        "model_name": model.name,
        "litellm_params": params,
        # The id comes back as x-litellm-model-id: the gateway names the model that answered from it.
        "model_info": {"id": model.name, "mode": LITELLM_MODES[model.capability],
                       "backend_class": model.backend.class_name},
    }


def _files_settings(backend: BackendPlan) -> list[dict[str, Any]]:
    """Where /v1/files and /v1/batches go when a request names no model (`x-litellm-model`): the
    files backend, through LiteLLM's OpenAI files client (its default provider for these routes)."""
    entry: dict[str, Any] = {"custom_llm_provider": "openai", "api_base": backend.base_url}
    if backend.api_key_env:
        entry["api_key"] = _env_ref(backend.api_key_env)
    return [entry]


def _mcp_server(server: McpServerPlan) -> dict[str, Any]:
    entry: dict[str, Any] = {"url": server.url, "transport": server.transport}
    if server.description is not None:
        entry["description"] = server.description
    return entry


# LiteLLM serves an agent in the A2A version its card names ("0.3" or "1.0"); the gateway's
# reader (runtime/endpoints/a2a.py) speaks 0.3.
A2A_PROTOCOL_VERSION = "0.3"


def _agent(agent: AgentPlan) -> dict[str, Any]:
    """LiteLLM's `agents:` entry: the card the proxy serves for the agent (its url rewritten to the
    proxy's) and the url the proxy calls."""
    return {
        "agent_name": agent.name,
        "agent_card_params": {
            "protocolVersion": A2A_PROTOCOL_VERSION,
            "name": agent.name,
            "description": agent.description,
            "url": agent.url,
            "version": "1.0.0",
            "capabilities": {"streaming": True},
            "defaultInputModes": ["text/plain"],
            "defaultOutputModes": ["text/plain"],
            "skills": [],
        },
    }


# The in-proxy guardrails (runtime/litellm_guardrail/) and where they find the bundle: relative
# to this config file, generated/<env>/litellm/config.yaml -> generated/<env>/opa/bundle.tar.gz.
GUARDRAIL_CLASS = "runtime.litellm_guardrail.PolicyBundleGuardrail"
MCP_GUARDRAIL_CLASS = "runtime.litellm_guardrail.PolicyMcpGuardrail"
GUARDRAIL_BUNDLE = "../opa/bundle.tar.gz"


def _guardrail(env: EnvPlan, name: str, guardrail: str, mode: str | list[str]) -> dict[str, Any]:
    return {
        "guardrail_name": name,
        "litellm_params": {
            "guardrail": guardrail,
            "mode": mode,
            "default_on": True,
            "policy_bundle": GUARDRAIL_BUNDLE,
            "bundle_trust": gateway_settings.policy_bundle(env),
            "fail_mode": env.fail_mode,
        },
    }


def _guardrails(env: EnvPlan) -> list[dict[str, Any]]:
    """One guardrail per policy that is not off: the prompt policy before the call, the output
    policy after it; and with MCP servers one more for tool calls, whose events LiteLLM names
    apart (a `pre_call` guardrail never runs on MCP). `default_on`, because a policy that a
    request can opt out of is no policy."""
    on = {p.name for p in env.policies if p.mode != "off"}
    entries = [
        _guardrail(env, f"policy-{policy}", GUARDRAIL_CLASS, hook)
        for policy, hook in (("prompt", "pre_call"), ("output", "post_call"))
        if policy in on
    ]
    mcp_hooks = [hook for policy, hook in (("prompt", "pre_mcp_call"), ("output", "post_mcp_call")) if policy in on]
    if env.mcp_servers and mcp_hooks:
        entries.append(_guardrail(env, "policy-mcp", MCP_GUARDRAIL_CLASS, mcp_hooks))
    return entries


def _litellm_settings(env: EnvPlan) -> dict[str, Any]:
    settings = dict(env.litellm.settings)
    callbacks = otel_env.litellm_callbacks(env, list(settings.get("callbacks", [])))
    if callbacks:
        settings["callbacks"] = callbacks
    return dict(sorted(settings.items()))


# Client keys (specs `keys:`): LiteLLM authenticates through runtime/litellm_identity/, which
# reads IDENTITIES beside the config, and runs its own key checks (models, budgets, limits) on
# what that returns: common checks and the post-custom-auth checks, both off by default.
IDENTITY_AUTH = "runtime.litellm_identity.custom_auth"
IDENTITIES = "litellm/identities.json"


def _allowance(plan: AllowancePlan) -> dict[str, Any]:
    return {
        "models": list(plan.models),
        "max_budget": plan.max_budget,
        "budget_duration": plan.budget_duration,
        "rpm_limit": plan.rpm_limit,
        "tpm_limit": plan.tpm_limit,
    }


def identities(env: EnvPlan) -> dict[str, Any]:
    """The identity table runtime.litellm_identity loads: names and variables, never a key's value."""
    return {
        "master_key_env": env.litellm.master_key_env,
        "teams": {t.name: _allowance(t) for t in env.teams},
        "keys": {k.name: {"key_env": k.key_env, "team": k.team, **_allowance(k)} for k in env.keys},
    }


def config(env: EnvPlan) -> dict[str, Any]:
    """The proxy config as data (the Helm values embed it too)."""
    fallbacks = [{m.name: list(m.fallbacks)} for m in env.models if m.fallbacks]
    router: dict[str, Any] = {
        "routing_strategy": env.router.routing_strategy,
        "num_retries": env.router.num_retries,
        "timeout": env.router.timeout_s,
        "allowed_fails": env.router.allowed_fails,
        "cooldown_time": env.router.cooldown_time_s,
        **dict(sorted(env.router.litellm_extra.items())),
    }
    if fallbacks:
        router["fallbacks"] = fallbacks
    general = {"master_key": _env_ref(env.litellm.master_key_env), **dict(sorted(env.litellm.general_settings.items()))}
    settings = _litellm_settings(env)
    if env.keys:
        general |= {"custom_auth": IDENTITY_AUTH, "custom_auth_run_common_checks": True}
        settings["enable_post_custom_auth_checks"] = True
    out: dict[str, Any] = {
        "model_list": [_model_entry(m) for m in env.models],
        "router_settings": router,
        "litellm_settings": settings,
        "general_settings": general,
    }
    if env.files_backend is not None:
        out["files_settings"] = _files_settings(env.files_backend)
    if env.mcp_servers:
        out["mcp_servers"] = {s.name: _mcp_server(s) for s in env.mcp_servers}
    if env.agents:
        out["agents"] = [_agent(a) for a in env.agents]
    if env.guardrails == "in_proxy":
        out["guardrails"] = _guardrails(env)
    return out


def env_references(env: EnvPlan) -> list[str]:
    """The environment variables the proxy reads for this config: every os.environ/NAME in it and
    those its callbacks need (compiler/litellm_surface/callbacks.py), the master key aside."""
    names: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and value.startswith(ENV_PREFIX):
            names.add(value.removeprefix(ENV_PREFIX))

    walk(config(env))
    settings = env.litellm.settings
    for key in ("callbacks", "success_callback", "failure_callback", "service_callback"):
        for callback in settings.get(key) or ():
            names.update(CALLBACK_ENV.get(callback, ()))
    return sorted(names - {env.litellm.master_key_env})


def render_env(env: EnvPlan) -> dict[str, str]:
    out = {"litellm/config.yaml": dump_yaml(config(env))}
    if env.keys:
        out[IDENTITIES] = dump_json(identities(env))
    return out
