"""docker-compose.yml for one environment.

Optional services start by compose profile (`--profile ai-governance`), never by an environment
toggle, so what runs is visible in the file. Secrets are `${NAME:?…}` references resolved from the
shell or an .env file at `docker compose up`, never values.

Networks mirror the Helm chart's network policies: each service that others depend on gets an
internal network (`to-<service>`, no route outside) shared only with its dependents; published
services join `edge`; the LiteLLM proxy alone joins `egress`, its way to the model providers. So in
production (only the gateway published) nothing reaches LiteLLM, OPA or Redis but the gateway.
"""

from __future__ import annotations

from typing import Any

from compiler.emit import gateway_settings, litellm, otel_env
from compiler.emit._yaml import dump_yaml
from compiler.emit.gateway_settings import REDIS_PASSWORD_ENV
from compiler.plan import EnvPlan, ServicePlan

GENERATED_IN_CONTAINER = "/app/generated"
EDGE = "edge"
EGRESS = "egress"


def _required(name: str) -> str:
    return f"${{{name}:?set {name} (see .env.example)}}"


def _optional(name: str) -> str:
    return f"${{{name}:-}}"


def _healthcheck(svc: ServicePlan) -> dict[str, Any] | None:
    h = svc.health
    if h is None:
        return None
    if h.command:
        test: list[str] = ["CMD", *h.command]
    else:
        test = ["CMD-SHELL", f"curl -fsS http://127.0.0.1:{svc.container_port}{h.path} || exit 1"]
    return {"test": test, "interval": f"{h.interval_s}s", "timeout": f"{h.timeout_s}s",
            "retries": h.retries, "start_period": f"{h.start_period_s}s"}


def _litellm_env_defaults(env: EnvPlan) -> dict[str, str]:
    """Where the compose stack's own Redis is, for a config that reads REDIS_HOST and REDIS_PORT."""
    cache = env.service_with_role("cache")
    return {} if cache is None else {"REDIS_HOST": cache.name, "REDIS_PORT": str(cache.container_port)}


def _role_settings(svc: ServicePlan, env: EnvPlan) -> dict[str, Any]:
    """Command, volumes and environment that follow from what the service is."""
    if svc.role == "policy-gateway":
        environment = {
            **gateway_settings.environment(env),
            **otel_env.gateway_environment(env),
            **otel_env.headers_value(env, _required),
            "POLICY_GATEWAY_MASTER_KEY": _required("POLICY_GATEWAY_MASTER_KEY"),
            "POLICY_GATEWAY_API_KEYS": "${POLICY_GATEWAY_API_KEYS:-}",
            "LLM_PROVIDER_API_KEY": _required(env.litellm.master_key_env),
        }
        key_env = gateway_settings.verification_key_env(env)
        if key_env:
            environment[key_env] = _required(key_env)
        cache = env.service_with_role("cache")
        if cache is not None and env.redis is not None and env.redis.service == cache.name:
            environment["REDIS_URL"] = gateway_settings.redis_url(cache.name, cache.container_port,
                                                                  _required(REDIS_PASSWORD_ENV))
        elif env.redis is not None and env.redis.password_env:  # Sentinel, or a Redis of its own
            environment["REDIS_PASSWORD"] = _required(env.redis.password_env)
        # production refuses to start without them (runtime/settings.py); elsewhere a key unset is unusable
        key_ref = _required if env.sea_env == "production" else _optional
        environment |= {name: key_ref(name) for name in gateway_settings.client_key_envs(env)}
        return {
            "command": ["gatewayctl", "serve", "--env", env.name, "--generated", GENERATED_IN_CONTAINER,
                        "--host", "0.0.0.0", "--port", str(svc.container_port)],
            "volumes": [f".:{GENERATED_IN_CONTAINER}/{env.name}:ro"],
            "environment": environment,
        }
    if svc.role == "llm-provider":
        environment = {env.litellm.master_key_env: _required(env.litellm.master_key_env)}
        for key in sorted({b.api_key_env for b in env.backends if b.api_key_env}):
            environment[key] = _optional(key)
        defaults = _litellm_env_defaults(env)
        for key in litellm.env_references(env):
            environment[key] = f"${{{key}:-{defaults.get(key, '')}}}"
        environment |= {name: _optional(name) for name in gateway_settings.client_key_envs(env, proxy=True)}
        if otel_env.litellm_environment(env):
            environment |= otel_env.litellm_environment(env) | otel_env.headers_value(env, _required)
        if env.proxy_runs_runtime:
            key_env = gateway_settings.verification_key_env(env)
            if env.guardrails == "in_proxy" and key_env:
                environment[key_env] = _required(key_env)
            # The guardrails and the identity hook import runtime/ and find the bundle and the
            # identity table beside the config: the proxy image built with them, the tree mounted.
            mounted = f"{GENERATED_IN_CONTAINER}/{env.name}"
            return {
                "image": env.deployment.llm_provider_image,
                "command": ["--config", f"{mounted}/litellm/config.yaml", "--port", str(svc.container_port)],
                "volumes": [f".:{mounted}:ro"],
                "environment": environment,
            }
        return {
            "command": ["--config", "/app/config.yaml", "--port", str(svc.container_port)],
            "volumes": ["./litellm/config.yaml:/app/config.yaml:ro"],
            "environment": environment,
        }
    if svc.role == "policy-engine":
        command = ["run", "--server", "--addr", f"0.0.0.0:{svc.container_port}"]
        signing = env.policy_bundle.signing
        if signing is not None and signing.required:
            # A signed bundle: OPA refuses it without the key, and verifies it as the gateway does
            # (--verification-key takes the PEM text itself as well as a path).
            key = signing.public_key or _required(str(signing.public_key_env))
            command += ["--verification-key", key, "--verification-key-id", signing.key_id,
                        "--signing-alg", signing.algorithm]
        return {"command": [*command, "/bundles/bundle.tar.gz"], "volumes": ["./opa:/bundles:ro"]}
    if svc.role == "cache":
        # redis-cli in the health check authenticates from REDISCLI_AUTH.
        password = _required(REDIS_PASSWORD_ENV)
        return {"command": ["redis-server", "--requirepass", password], "environment": {"REDISCLI_AUTH": password}}
    return {}


def networks_of(env: EnvPlan) -> dict[str, list[str]]:
    """Service -> the networks it joins (see the module docstring); a service absent joins none of ours."""
    joined: dict[str, set[str]] = {s.name: set() for s in env.services}
    for svc in env.services:
        for dep in svc.depends_on:
            joined[svc.name].add(f"to-{dep}")
            joined[dep].add(f"to-{dep}")
        if svc.published:
            joined[svc.name].add(EDGE)
        if svc.role == "llm-provider":
            joined[svc.name].add(EGRESS)
    return {name: sorted(nets) for name, nets in joined.items() if nets}


def _networks(joined: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    names = sorted({n for nets in joined.values() for n in nets})
    return {n: {} if n in (EDGE, EGRESS) else {"internal": True} for n in names}


def _service(svc: ServicePlan, env: EnvPlan) -> dict[str, Any]:
    by_name = {s.name: s for s in env.services}
    role = _role_settings(svc, env)
    out: dict[str, Any] = {"image": role.get("image", svc.image)}
    if svc.profiles:
        out["profiles"] = list(svc.profiles)
    if "command" in role:
        out["command"] = role["command"]
    if svc.published:
        out["ports"] = [f"{p.host_ip}:{p.host_port}:{p.container_port}" for p in svc.published]
    networks = networks_of(env).get(svc.name)
    if networks:
        out["networks"] = networks
    environment = {**role.get("environment", {}), **dict(svc.environment)}
    if environment:
        out["environment"] = dict(sorted(environment.items()))
    if "volumes" in role:
        out["volumes"] = role["volumes"]
    health = _healthcheck(svc)
    if health:
        out["healthcheck"] = health
    if svc.depends_on:
        out["depends_on"] = {
            dep: {"condition": "service_healthy" if by_name[dep].health else "service_started"}
            for dep in svc.depends_on
        }
    out["restart"] = "unless-stopped"
    return out


def render_env(env: EnvPlan) -> dict[str, str]:
    compose = {
        "name": f"llm-gateway-{env.name}",
        "services": {svc.name: _service(svc, env) for svc in env.services},
    }
    networks = _networks(networks_of(env))
    if networks:
        compose["networks"] = networks
    return {"docker-compose.yml": dump_yaml(compose)}
