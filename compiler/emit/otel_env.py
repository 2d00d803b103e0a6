"""The OpenTelemetry environment of the gateway and of the LiteLLM proxy: one collector for both.

Standard OTEL_* variables, which the OpenTelemetry SDK reads in the gateway (runtime/telemetry.py)
and LiteLLM's `otel` callback reads in the proxy (it takes OTEL_EXPORTER_OTLP_ENDPOINT/_PROTOCOL/
_HEADERS before its own OTEL_ENDPOINT/OTEL_EXPORTER/OTEL_HEADERS, and adds the /v1/<signal> paths
as the SDK does), so one set of names serves both. Header values are secrets: each emitter says how
its format refers to an environment variable (compose `${NAME}`, Kubernetes `$(NAME)`).
"""

from __future__ import annotations

from collections.abc import Callable

from compiler.plan import EnvPlan, ObservabilityPlan

HEADERS_VAR = "OTEL_EXPORTER_OTLP_HEADERS"
# LiteLLM records prompts and answers on its spans unless told not to; they never leave the proxy.
NO_MESSAGE_CONTENT = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"}


def _common(obs: ObservabilityPlan, env: EnvPlan, service: str) -> dict[str, str]:
    return {
        "OTEL_SERVICE_NAME": service,
        "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment={env.name}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": obs.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": obs.protocol,
        # Parent-based: a trace the caller sampled is always followed, so LiteLLM's spans join
        # every gateway trace that is recorded.
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": f"{obs.sampling_ratio:g}",
    }


def gateway_environment(env: EnvPlan) -> dict[str, str]:
    """The gateway's plain OTEL_* settings; empty without a collector."""
    obs = env.observability
    if obs is None:
        return {}
    out = _common(obs, env, obs.gateway_service)
    for signal in ("traces", "metrics", "logs"):
        out[f"OTEL_{signal.upper()}_EXPORTER"] = "otlp" if signal in obs.signals else "none"
    return dict(sorted(out.items()))


def litellm_environment(env: EnvPlan) -> dict[str, str]:
    """The proxy's plain OTEL_* settings for its `otel` callback; empty when the callback is off."""
    obs = env.observability
    if obs is None or not obs.litellm_callback:
        return {}
    return dict(sorted((_common(obs, env, obs.litellm_service) | NO_MESSAGE_CONTENT).items()))


def header_secrets(env: EnvPlan) -> list[str]:
    """The environment variables the collector's headers are read from."""
    obs = env.observability
    return sorted({var for _, var in obs.headers}) if obs is not None else []


def headers_value(env: EnvPlan, ref: Callable[[str], str]) -> dict[str, str]:
    """{OTEL_EXPORTER_OTLP_HEADERS: "name=<ref(VAR)>,..."}, or {} without headers."""
    obs = env.observability
    if obs is None or not obs.headers:
        return {}
    return {HEADERS_VAR: ",".join(f"{name}={ref(var)}" for name, var in obs.headers)}


def litellm_callbacks(env: EnvPlan, configured: list[str]) -> list[str]:
    """LiteLLM's callbacks with `otel` added where the environment exports to a collector."""
    obs = env.observability
    if obs is None or not obs.litellm_callback or "otel" in configured:
        return configured
    return [*configured, "otel"]
