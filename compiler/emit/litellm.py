"""LiteLLM proxy config.yaml: model_list, router_settings, litellm_settings, general_settings,
and guardrails (the compiled policies in-process) where the environment asks for them.

Secrets are never written: keys appear as os.environ/NAME references that LiteLLM resolves.
"""

from __future__ import annotations

from typing import Any

from compiler.emit._yaml import dump_yaml
from compiler.plan import EnvPlan, ModelPlan


def _env_ref(name: str) -> str:
    return f"os.environ/{name}"


def _model_entry(model: ModelPlan) -> dict[str, Any]:
    params: dict[str, Any] = {"model": model.litellm_params["model"]}
    if "api_base" not in model.litellm_params:
        params["api_base"] = model.backend.base_url
    if model.backend.api_key_env and "api_key" not in model.litellm_params:
        params["api_key"] = _env_ref(model.backend.api_key_env)
    params["timeout"] = model.timeout_s
    params["max_retries"] = model.retries
    params.update({k: v for k, v in sorted(model.litellm_params.items()) if k != "model"})
    mode = {"chat": "chat", "completions": "completion", "embeddings": "embedding",
            "images": "image_generation", "audio": "audio_transcription",
            "moderations": "moderation", "rerank": "rerank"}[model.capability]
    return {
        "model_name": model.name,
        "litellm_params": params,
        "model_info": {"mode": mode, "backend_class": model.backend.class_name},
    }


# The in-proxy guardrail (runtime/litellm_guardrail.py) and where it finds the bundle: relative
# to this config file, generated/<env>/litellm/config.yaml -> generated/<env>/opa/bundle.tar.gz.
GUARDRAIL_CLASS = "runtime.litellm_guardrail.PolicyBundleGuardrail"
GUARDRAIL_BUNDLE = "../opa/bundle.tar.gz"


def _guardrails(env: EnvPlan) -> list[dict[str, Any]]:
    """One guardrail per policy that is not off: the prompt policy before the call, the output
    policy after it. `default_on`, because a policy that a request can opt out of is no policy."""
    entries = []
    for policy, hook in (("prompt", "pre_call"), ("output", "post_call")):
        if env.policy(policy).mode == "off":
            continue
        entries.append({
            "guardrail_name": f"policy-{policy}",
            "litellm_params": {
                "guardrail": GUARDRAIL_CLASS,
                "mode": hook,
                "default_on": True,
                "policy_bundle": GUARDRAIL_BUNDLE,
                "fail_mode": env.fail_mode,
            },
        })
    return entries


def config(env: EnvPlan) -> dict[str, Any]:
    """The proxy config as data (the Helm values embed it too)."""
    fallbacks = [{m.name: list(m.fallbacks)} for m in env.models if m.fallbacks]
    router: dict[str, Any] = {
        "routing_strategy": env.router.routing_strategy,
        "num_retries": env.router.num_retries,
        "timeout": env.router.timeout_s,
        "allowed_fails": env.router.allowed_fails,
        "cooldown_time": env.router.cooldown_time_s,
    }
    if fallbacks:
        router["fallbacks"] = fallbacks
    general = {"master_key": _env_ref(env.litellm.master_key_env), **dict(sorted(env.litellm.general_settings.items()))}
    out: dict[str, Any] = {
        "model_list": [_model_entry(m) for m in env.models],
        "router_settings": router,
        "litellm_settings": dict(sorted(env.litellm.settings.items())),
        "general_settings": general,
    }
    if env.guardrails == "in_proxy":
        out["guardrails"] = _guardrails(env)
    return out


def render_env(env: EnvPlan) -> dict[str, str]:
    return {"litellm/config.yaml": dump_yaml(config(env))}
