"""gateway.json: the runtime settings the policy gateway reads for one environment."""

from __future__ import annotations

import dataclasses
from typing import Any

from compiler.emit._json import dump_json
from compiler.plan import EnvPlan

# The name of the policy-gateway service's extra port that serves the operations endpoints.
OPERATIONS_PORT = "operations"


def settings(env: EnvPlan) -> dict[str, Any]:
    gateway = env.service_with_role("policy-gateway")
    return {
        "environment": env.name,
        "sea_env": env.sea_env,
        "enable_policy_gateway": env.enable_policy_gateway,
        "fail_mode": env.fail_mode,
        "listen_port": gateway.container_port if gateway else 8080,
        "llm_provider_url": env.llm_provider_url,
        "circuit_breaker": {
            "failure_threshold": env.gateway.failure_threshold,
            "reset_timeout_s": env.gateway.reset_timeout_s,
        },
        "rate_limit": {
            "requests_per_minute": env.gateway.requests_per_minute,
            "redis_max_connections": env.gateway.redis_max_connections,
        }
        | ({"tokens_per_minute": env.gateway.tokens_per_minute} if env.gateway.tokens_per_minute else {}),
        "max_body_bytes": env.gateway.max_body_bytes,
        "max_answer_bytes": env.gateway.max_answer_bytes,
        "operations_port": operations_port(env),
        "server": dataclasses.asdict(env.gateway.server),
        "backends": {
            b.name: {
                "base_url": b.base_url,
                "class": b.class_name,
                "capabilities": list(b.capabilities),
                "concurrency": dict(b.concurrency),
                "health": {"live": b.health_live, "ready": b.health_ready} if b.health_live else None,
                "legacy_names": list(b.legacy_names),
                "payload_policy": {"images_format": b.images_format, "max_image_bytes": b.max_image_bytes},
            }
            for b in env.backends
        },
        "models": {
            m.name: {"backend": m.backend.name, "capability": m.capability, "fallbacks": list(m.fallbacks)}
            for m in env.models
        },
        "policies": {
            p.name: {"version": p.version, "mode": p.mode, "limits": dict(p.data["limits"])}
            | ({"action": p.data["action"]} if "action" in p.data else {})
            for p in env.policies
        },
        "endpoints": {
            e.name: {"capability": e.capability, "title": e.title, "routes": list(e.routes)} for e in env.endpoints
        },
        # the client keys of the specs: the variable holding each value, and its team (the
        # gateway names the key to LiteLLM, which knows its models, budget and limits)
        "client_keys": {k.name: {"key_env": k.key_env, "team": k.team} for k in env.keys},
        "mcp_servers": sorted(s.name for s in env.mcp_servers),
        "agents": sorted(a.name for a in env.agents),
        "bundle": "opa/bundle.tar.gz",
        "policy_bundle": policy_bundle(env),
    }


def policy_bundle(env: EnvPlan) -> dict[str, Any]:
    """What a bundle must prove before it is loaded (runtime/policy/_trust.py reads it): gateway.json's
    `policy_bundle`, and the in-proxy guardrail's `bundle_trust` parameter."""
    plan, signing = env.policy_bundle, env.policy_bundle.signing
    return {
        "production": plan.production,
        "allow_off_in_production": plan.allow_off_in_production,
        "signature": None if signing is None else {
            "key_id": signing.key_id,
            "algorithm": signing.algorithm,
            "public_key": signing.public_key,
            "public_key_env": signing.public_key_env,
            "required": signing.required,
        },
    }


def client_key_envs(env: EnvPlan, *, proxy: bool = False) -> list[str]:
    """The variables holding the client keys' values: the gateway needs them all; LiteLLM only where
    the gateway is off and clients present their keys to it directly."""
    if proxy and env.enable_policy_gateway:
        return []
    return [k.key_env for k in env.keys]


def verification_key_env(env: EnvPlan) -> str | None:
    """The variable the gateway must be given the bundle verification key in: only where a
    signature is required, so an environment that does not check one needs no such secret."""
    signing = env.policy_bundle.signing
    return signing.public_key_env if signing is not None and signing.required else None


def environment(env: EnvPlan) -> dict[str, str]:
    """The gateway's plain (non-secret) environment variables, as compose, Helm and .env.example name them."""
    out = {
        "SEA_ENV": env.sea_env,
        "LLM_ENABLE_POLICY_GATEWAY": "true" if env.enable_policy_gateway else "false",
        "POLICY_GATEWAY_FAIL_MODE": env.fail_mode,
        "LLM_PROVIDER_URL": env.llm_provider_url,
        "POLICY_GATEWAY_CB_FAILURE_THRESHOLD": str(env.gateway.failure_threshold),
        "POLICY_GATEWAY_CB_RESET_TIMEOUT_S": f"{env.gateway.reset_timeout_s:g}",
    }
    cache = env.service_with_role("cache")
    if cache is not None:
        out["REDIS_URL"] = redis_url(cache.name, cache.container_port)
    return dict(sorted(out.items()))


def operations_port(env: EnvPlan) -> int | None:
    """The container port of the gateway's `operations` extra port (metrics, status), if any."""
    gateway = env.service_with_role("policy-gateway")
    port = next((p for p in gateway.extra_ports if p.name == OPERATIONS_PORT), None) if gateway else None
    return port.container_port if port else None


# The variable Redis's password comes from: compose starts redis-server with it and puts it in REDIS_URL.
REDIS_PASSWORD_ENV = "REDIS_PASSWORD"


def redis_url(host: str, port: int, password: str | None = None) -> str:
    """password: a reference such as ${REDIS_PASSWORD} (URL-safe characters only), never a value."""
    auth = f":{password}@" if password else ""
    return f"redis://{auth}{host}:{port}/0"


def render_env(env: EnvPlan) -> dict[str, str]:
    return {"gateway.json": dump_json(settings(env))}
