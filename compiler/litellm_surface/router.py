"""router_settings: LiteLLM's Router arguments (litellm.Router.__init__, litellm.types.router.RouterConfig
and UpdateRouterConfig), the llmrouter-* strategies of seed 002 and their routing_strategy_args."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from compiler.litellm_surface._base import LiteLLMModel, PassThrough, did_you_mean, rule_error
from compiler.litellm_surface._from_litellm import ROUTER_ARGS, ROUTING_STRATEGIES

# Seed 002 requirement 2: LLMRouter's strategies (ML routers), named llmrouter-<router>. LiteLLM
# 1.106 refuses them (Router: "Invalid routing_strategy"): they need a proxy with the LLMRouter
# integration, so the specs take them (with a warning) and litellm-check refuses them. The first ten
# are the seed's; the multi-round and personalized variants are named after LLMRouter's routers.
LLMROUTER_STRATEGIES = tuple(f"llmrouter-{name}" for name in (
    "knn", "svm", "mlp", "mf", "elo", "hybrid", "graph", "automix", "causallm", "routerdc",
    "knn-multiround", "llm-multiround", "router-r1", "gmt", "personalized", "smallest", "largest", "custom",
))

LLMROUTER_HINT = ("run the proxy with the LLMRouter integration (docs/litellm-surface.md, \"llmrouter strategies\"), "
                  "or use one of LiteLLM's own strategies")


def _strategy(value: str) -> str:
    if value in ROUTING_STRATEGIES or value in LLMROUTER_STRATEGIES:
        return value
    raise rule_error(f"unknown routing strategy {value!r}",
                     did_you_mean(value, (*sorted(ROUTING_STRATEGIES), *LLMROUTER_STRATEGIES), listing=8))


# litellm.router_utils.routing_groups.VALID_ROUTING_STRATEGIES plus the llmrouter-* names.
RoutingStrategy = Annotated[str, AfterValidator(_strategy)]


def _not_env_ref(value: str) -> str:
    if value.startswith("os.environ/"):
        raise rule_error(
            "LiteLLM's Router takes this as written: it resolves os.environ/ only in litellm_params and cache_params",
            f"leave it out and set {value.removeprefix('os.environ/')} in the proxy's environment: LiteLLM's Redis "
            "client reads REDIS_HOST, REDIS_PORT, REDIS_PASSWORD and REDIS_URL itself")
    return value


# A router_settings Redis value: literal (the Router does not resolve os.environ/), never a secret.
RouterRedisValue = Annotated[str, AfterValidator(_not_env_ref)]
# LiteLLM's fallback lists: [{model_group: [fallback, ...]}, ...]
FallbackList = list[dict[str, list[str]]]


class RoutingStrategyArgs(LiteLLMModel):
    """Seed 002 requirements 2-3 (llmrouter-*), and the args of LiteLLM's latency-based routing."""

    model_path: str | None = Field(None, min_length=1, description="llmrouter: the trained routing model")
    llm_data_path: str | None = Field(None, min_length=1, description="llmrouter: the candidate LLMs' metadata")
    hot_reload: bool = Field(False, description="llmrouter: reload the model when its file changes")
    reload_interval: int = Field(60, ge=1, description="llmrouter: seconds between checks for a new model")
    model_s3_bucket: str | None = Field(None, description="llmrouter: fetch the model from this bucket")
    model_s3_key: str | None = None
    mounted: bool = Field(
        False, description="true: the paths are absolute paths mounted into the proxy's container at run "
        "time (not checked here); false: paths relative to the repository, which must exist")
    # latency-based-routing (litellm/router_strategy/lowest_latency.py RoutingArgs)
    ttl: float | None = Field(None, gt=0)
    lowest_latency_buffer: float | None = Field(None, ge=0)
    max_latency_list_size: int | None = Field(None, ge=1)


def strategy_args_problems(strategy: str, args: RoutingStrategyArgs | None) -> list[tuple[str, str, str]]:
    """(field, message, hint) for each rule broken: an llmrouter strategy needs its model and data,
    LiteLLM's own strategies take neither."""
    llmrouter = strategy.startswith("llmrouter-")
    if llmrouter and (args is None or (args.model_path is None and args.model_s3_bucket is None)):
        return [("routing_strategy", f"routing strategy {strategy!r} needs routing_strategy_args.model_path",
                 "add routing_strategy_args: {model_path: ..., llm_data_path: ...} (seed 002 requirement 2)")]
    if llmrouter and args is not None and args.llm_data_path is None:
        return [("routing_strategy_args", f"routing strategy {strategy!r} needs routing_strategy_args.llm_data_path",
                 "name the candidate LLMs' metadata file (llm_data_path)")]
    if not llmrouter and args is not None and (args.model_path or args.llm_data_path):
        return [("routing_strategy_args", f"routing strategy {strategy!r} takes no model_path or llm_data_path",
                 "these belong to an llmrouter-* strategy")]
    return []


class RouterSettings(PassThrough):
    """A LiteLLM config's router_settings: every Router argument the proxy passes on, the common
    ones typed (names and types from litellm.types.router.RouterConfig / UpdateRouterConfig)."""

    passthrough_keys = ROUTER_ARGS

    routing_strategy: RoutingStrategy = "simple-shuffle"
    routing_strategy_args: RoutingStrategyArgs | None = None
    num_retries: int | None = Field(None, ge=0)
    timeout: float | None = Field(None, gt=0)
    stream_timeout: float | None = Field(None, gt=0)
    retry_after: float | None = Field(None, ge=0)
    allowed_fails: int | None = Field(None, ge=0)
    cooldown_time: float | None = Field(None, ge=0)
    disable_cooldowns: bool | None = None
    fallbacks: FallbackList | None = None
    context_window_fallbacks: FallbackList | None = None
    content_policy_fallbacks: FallbackList | None = None
    redis_host: RouterRedisValue | None = None
    redis_port: int | None = Field(None, ge=1, le=65535)
    redis_password: RouterRedisValue | None = None
    redis_url: RouterRedisValue | None = None
    enable_pre_call_checks: bool | None = None
    set_verbose: bool | None = None
    model_group_alias: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _strategy_args(self) -> RouterSettings:
        for _field, message, hint in strategy_args_problems(self.routing_strategy, self.routing_strategy_args):
            raise rule_error(message, hint)
        return self
