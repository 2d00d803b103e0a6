""".env.example: the dual-mode routing variables of seed 000 and the names of every secret."""

from __future__ import annotations

from compiler.emit import gateway_settings, litellm, otel_env
from compiler.emit.gateway_settings import REDIS_PASSWORD_ENV, operations_port, redis_url
from compiler.plan import EnvPlan


def render_env(env: EnvPlan) -> dict[str, str]:
    secrets = [env.litellm.master_key_env, "POLICY_GATEWAY_MASTER_KEY"]
    secrets += sorted({b.api_key_env for b in env.backends if b.api_key_env})
    secrets += gateway_settings.client_key_envs(env)  # the client keys of the specs (`keys:`)
    cache = env.service_with_role("cache")
    password_env = gateway_settings.redis_password_env(env)
    if password_env:
        secrets.append(password_env)
    elif cache is not None:
        secrets.append(REDIS_PASSWORD_ENV)  # compose starts the cache service with it
    lines = [
        f"# Environment: {env.name}",
        "",
        "# Dual-mode routing: true sends every call through the policy gateway; false goes straight",
        "# to the LiteLLM proxy. SEA_ENV=production refuses to start unless this is true.",
        f"LLM_ENABLE_POLICY_GATEWAY={'true' if env.enable_policy_gateway else 'false'}",
        f"LLM_POLICY_GATEWAY_URL={env.policy_gateway_url}",
        f"LLM_PROVIDER_URL={env.llm_provider_url}",
        "# closed: when the gateway or its upstream fails, refuse; never bypass the policies.",
        f"POLICY_GATEWAY_FAIL_MODE={env.fail_mode}",
        f"SEA_ENV={env.sea_env}",
        "",
        "# Circuit breaker on the upstream (failures before opening, seconds before one probe).",
        f"POLICY_GATEWAY_CB_FAILURE_THRESHOLD={env.gateway.failure_threshold}",
        f"POLICY_GATEWAY_CB_RESET_TIMEOUT_S={env.gateway.reset_timeout_s:g}",
    ]
    if cache is not None and env.redis is not None and env.redis.service == cache.name:
        lines += [
            "# Redis refuses clients without its password (compose starts it with --requirepass);",
            f"# {REDIS_PASSWORD_ENV} below must be URL-safe (e.g. `openssl rand -hex 32`).",
            f"REDIS_URL={redis_url(cache.name, cache.container_port, '${' + REDIS_PASSWORD_ENV + '}')}",
        ]
    elif env.redis is not None:
        if env.redis.sentinels:
            lines.append("# Redis behind Sentinel: the gateway asks these sentinels where the master is.")
        lines += [f"{k}={v}" for k, v in gateway_settings.environment(env).items() if k.startswith("REDIS_")]
    ops_port = operations_port(env)
    if ops_port is not None:
        lines += [
            "",
            "# The gateway's operations endpoints (/metrics, /health, /v1/gateway/status,",
            "# /hot-reload/status) listen here, apart from the clients' port; gateway.json has it too.",
            f"POLICY_GATEWAY_OPERATIONS_PORT={ops_port}",
        ]
    telemetry = otel_env.gateway_environment(env)
    if telemetry:
        lines += [
            "",
            "# Telemetry: the gateway exports traces, metrics and logs to the environment's collector",
            "# (observability in the specs); the LiteLLM proxy's otel callback sends its spans there too.",
            *(f"{name}={value}" for name, value in telemetry.items()),
        ]
    lines += [
        "",
        "# Secrets: set them in your shell or a private .env; never commit values.",
        "# POLICY_GATEWAY_API_KEYS is a comma-separated list of client keys.",
        "POLICY_GATEWAY_API_KEYS=",
        "# The key the gateway presents to LiteLLM (LiteLLM's master key or a virtual key); client",
        "# adapters use it too on the direct route (gateway disabled).",
        "LLM_PROVIDER_API_KEY=",
        "# The key client adapters present to the policy gateway (one of POLICY_GATEWAY_API_KEYS).",
        "LLM_POLICY_GATEWAY_API_KEY=",
        *(f"{name}=" for name in secrets),
    ]
    proxy_env = litellm.env_references(env)
    if proxy_env:
        lines += [
            "# What the LiteLLM proxy reads (os.environ/ references in litellm/config.yaml, and the",
            "# variables its callbacks need).",
            *(f"{name}=" for name in proxy_env if name not in secrets and name != REDIS_PASSWORD_ENV),
        ]
    header_secrets = otel_env.header_secrets(env)
    if header_secrets:
        lines += [
            "# The collector's headers (observability.headers) are read from these; the gateway and the",
            f"# proxy get them as {otel_env.HEADERS_VAR}.",
            *(f"{name}=" for name in header_secrets),
        ]
    key_env = gateway_settings.verification_key_env(env)
    if key_env:
        lines += [
            "# The PEM public key signed policy bundles are verified with (policy_bundle.signing);",
            "# the gateway refuses an unsigned or otherwise signed bundle without it.",
            f"{key_env}=",
        ]
    return {".env.example": "\n".join(lines) + "\n"}
