"""The callbacks LiteLLM accepts by name, what each needs, and which work without the internet."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from compiler.litellm_surface._base import did_you_mean, rule_error
from compiler.litellm_surface._from_litellm import LOGGER_CALLBACKS, STRING_CALLBACKS

KNOWN_CALLBACKS = LOGGER_CALLBACKS | STRING_CALLBACKS

# A custom callback: a dotted path to an instance in a module next to the config
# (`custom_callbacks.proxy_handler_instance`).
_CUSTOM = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")

# The environment variables a callback reads (LiteLLM's docs, "Logging" and "Alerting"); listed in
# .env.example. Callbacks not named here need none, or only optional ones.
CALLBACK_ENV: dict[str, tuple[str, ...]] = {
    "arize": ("ARIZE_SPACE_KEY", "ARIZE_API_KEY"),
    "braintrust": ("BRAINTRUST_API_KEY",),
    "datadog": ("DD_API_KEY", "DD_SITE"),
    "datadog_llm_observability": ("DD_API_KEY", "DD_SITE"),
    "gcs_bucket": ("GCS_BUCKET_NAME", "GCS_PATH_SERVICE_ACCOUNT"),
    "helicone": ("HELICONE_API_KEY",),
    "langfuse": ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_HOST"),
    "langfuse_otel": ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_HOST"),
    "langsmith": ("LANGSMITH_API_KEY",),
    "logfire": ("LOGFIRE_TOKEN",),
    "lunary": ("LUNARY_PUBLIC_KEY",),
    "otel": ("OTEL_EXPORTER", "OTEL_ENDPOINT"),
    "sentry": ("SENTRY_DSN",),
    "slack": ("SLACK_WEBHOOK_URL",),
}

# Callbacks that run without reaching a vendor's cloud: they write to a service you can host
# yourself (Prometheus, an OTLP collector, self-hosted Langfuse, MLflow, ClickHouse, ...), or are
# in-process hooks. Seed 002 requirement 16: an air-gapped environment may use only these.
SELF_HOSTED_CALLBACKS = frozenset({
    "prometheus", "otel", "langfuse", "langfuse_otel", "mlflow", "clickhouse", "opik", "signoz",
    "generic_api", "smtp_email", "arize_phoenix", "openmeter", "lago", "argilla", "gitlab",
    "dynamic_rate_limiter", "dynamic_rate_limiter_v3", "anthropic_cache_control_hook",
    "vector_store_pre_call_hook", "dotprompt", "compression_interception", "litellm_agent",
    "websearch_interception", "code_interpreter_interception", "presidio", "hide_secrets", "banned_keywords",
    "blocked_user_check", "detect_prompt_injection", "batch_redis_requests", "llmguard_moderations",
    "llamaguard_moderations",
})


def is_cloud_only(callback: str) -> bool:
    return callback in KNOWN_CALLBACKS and callback not in SELF_HOSTED_CALLBACKS


def _callback(value: str) -> str:
    if value in KNOWN_CALLBACKS or _CUSTOM.match(value):
        return value
    raise rule_error(f"unknown callback {value!r}",
                     did_you_mean(value, KNOWN_CALLBACKS) + ", or a custom one as module.instance")


CallbackName = Annotated[str, AfterValidator(_callback)]
