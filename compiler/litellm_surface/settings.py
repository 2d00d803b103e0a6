"""litellm_settings: the proxy's own branches (cache, callbacks, ...) and litellm.<key> for any
other attribute of the litellm module (proxy_server.py load_config)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from compiler.litellm_surface._base import PassThrough, did_you_mean, rule_error
from compiler.litellm_surface._from_litellm import CACHE_CALL_TYPES, CACHE_PARAMS, MODULE_SETTINGS
from compiler.litellm_surface.callbacks import CallbackName
from compiler.litellm_surface.router import FallbackList

# Keys proxy_server.py load_config handles itself before falling back to setattr(litellm, key, value).
PROXY_BRANCHES = frozenset({
    "cache", "cache_params", "callbacks", "success_callback", "failure_callback", "audit_log_callbacks",
    "guardrails", "global_prompt_directory", "priority_reservation_settings", "model_group_settings",
    "post_call_rules", "max_internal_user_budget", "default_max_internal_user_budget",
    "default_internal_user_params", "custom_provider_map", "responses", "max_ui_session_budget",
    "default_team_settings", "upperbound_key_generate_params", "key_alias_pattern", "json_logs",
    "budget_reset_time", "enable_redis_auth_cache", "global_bitbucket_config", "global_gitlab_config",
})


def _call_type(value: str) -> str:
    if value in CACHE_CALL_TYPES:
        return value
    raise rule_error(f"LiteLLM does not cache call type {value!r}", did_you_mean(value, CACHE_CALL_TYPES))


CacheCallType = Annotated[str, AfterValidator(_call_type)]
Duration = Annotated[str, Field(pattern=r"^\d+(s|m|h|d|w|mo)$", description="30s, 10m, 24h, 7d, 1mo")]

class CacheParams(PassThrough):
    """litellm.caching.caching.Cache's arguments: Redis (host/port/password, or a cluster through
    redis_startup_nodes, or Sentinel through service_name and sentinel_nodes), TTLs, namespace,
    the call types that are cached."""

    passthrough_keys = CACHE_PARAMS

    type: Literal["local", "redis", "redis-semantic", "s3", "disk", "qdrant-semantic", "valkey-semantic",
                  "azure-blob", "gcs"] = "redis"
    mode: Literal["default_on", "default_off"] | None = None
    host: str | None = Field(None, min_length=1)
    port: int | str | None = None  # a number, or an os.environ/ reference
    password: str | None = None
    namespace: str | None = Field(None, min_length=1)
    ttl: float | None = Field(None, gt=0, description="seconds a cached answer lives")
    default_in_memory_ttl: float | None = Field(None, gt=0)
    default_in_redis_ttl: float | None = Field(None, gt=0)
    supported_call_types: list[CacheCallType] | None = None
    redis_startup_nodes: list[dict[str, Any]] | None = Field(None, description="Redis cluster: [{host, port}]")
    # Sentinel: RedisCache's own kwargs (litellm/caching/redis_cache.py), passed through Cache(**kwargs).
    service_name: str | None = Field(None, description="Redis Sentinel: the monitored master's name")
    sentinel_nodes: list[list[Any]] | None = Field(None, description="Redis Sentinel: [[host, port], ...]")
    sentinel_password: str | None = None
    url: str | None = None
    ssl: bool | None = None
    db: int | None = Field(None, ge=0)
    similarity_threshold: float | None = Field(None, ge=0, le=1)


class LitellmSettings(PassThrough):
    """A LiteLLM config's litellm_settings: the common keys typed, every other litellm attribute
    passed through (a name LiteLLM has no attribute for is an error, not silently set)."""

    passthrough_keys = MODULE_SETTINGS | PROXY_BRANCHES

    drop_params: bool | None = None
    set_verbose: bool | None = None
    json_logs: bool | None = None
    request_timeout: float | None = Field(None, gt=0)
    num_retries: int | None = Field(None, ge=0)
    cache: bool | None = None
    cache_params: CacheParams | None = None
    callbacks: list[CallbackName] | None = None
    success_callback: list[CallbackName] | None = None
    failure_callback: list[CallbackName] | None = None
    service_callback: list[CallbackName] | None = None
    context_window_fallbacks: FallbackList | None = None
    max_budget: float | None = Field(None, ge=0)
    budget_duration: Duration | None = None
    modify_params: bool | None = None
