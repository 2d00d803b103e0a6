"""Backend classes (seed 003) and the models LiteLLM serves on them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from compiler.litellm_surface.general import GeneralSettings
from compiler.litellm_surface.providers import LiteLLMParams
from compiler.litellm_surface.router import RouterRedisValue, RoutingStrategy, RoutingStrategyArgs
from compiler.litellm_surface.settings import LitellmSettings
from compiler.model._base import Capability, EnvVarName, HttpUrl, Name, StrictModel, UrlPath


class BackendHealth(StrictModel):
    live: UrlPath = "/healthz"
    ready: UrlPath = "/readyz"


class PayloadPolicy(StrictModel):
    """Seed 003: images come back as URLs unless the backend allows base64, and then no larger than
    max_image_bytes."""

    images_format: Literal["url", "b64_json"] = Field(
        "url", description="url: base64 images are refused; b64_json: a client may ask for base64"
    )
    max_image_bytes: int | None = Field(
        None, ge=1, description="largest base64 image (decoded bytes) the gateway passes on; none: no cap"
    )


class Backend(StrictModel):
    class_: Name | None = Field(None, alias="class", description="backend class; defaults to the key")
    base_url: HttpUrl
    capabilities: list[Capability] = Field(min_length=1)
    concurrency: dict[Capability, int] = Field(
        default_factory=dict, description="max in-flight requests per route kind"
    )
    health: BackendHealth | None = None
    payload_policy: PayloadPolicy | None = None
    legacy_names: list[Name] = Field(default_factory=list)
    api_key_env: EnvVarName | None = Field(None, description="environment variable holding the key")
    locality: Literal["local", "private", "external"] | None = Field(
        None,
        description="where prompts go: local (this host), private (the site's network) or external (a hosted "
        "provider); default from base_url: loopback is local, a private address or a site-internal name "
        "(no dot, .internal, .local, .lan, .svc, .cluster.local, .home.arpa) is private, anything else external",
    )


class Model(StrictModel):
    name: str = Field(min_length=1, description="the model_name clients ask for")
    backend: Name
    capability: Capability = "chat"
    litellm_params: LiteLLMParams = Field(
        description="passed to LiteLLM: `model` (provider/model) and the parameters that provider takes")
    fallbacks: list[str] = Field(default_factory=list)
    timeout_s: float | None = Field(None, gt=0)
    retries: int | None = Field(None, ge=0)


class Router(StrictModel):
    """LiteLLM's router_settings (compiler/litellm_surface/router.py has LiteLLM's own names)."""

    routing_strategy: RoutingStrategy = Field(
        "simple-shuffle", description="one of LiteLLM's strategies, or llmrouter-* (needs the LLMRouter integration)")
    routing_strategy_args: RoutingStrategyArgs | None = None
    num_retries: int = Field(2, ge=0)
    timeout_s: float = Field(60.0, gt=0)
    retry_after_s: float | None = Field(None, ge=0, description="least seconds before a retry (retry_after)")
    allowed_fails: int = Field(3, ge=0)
    cooldown_time_s: float = Field(30.0, ge=0)
    disable_cooldowns: bool | None = None
    context_window_fallbacks: dict[str, list[str]] = Field(
        default_factory=dict, description="model -> models with a larger context window, tried when it overflows")
    # Redis for routing state shared by replicas. The Router takes these as written (no os.environ/):
    # the password comes from REDIS_PASSWORD in the proxy's environment.
    redis_host: RouterRedisValue | None = Field(None, description="Redis for routing state shared by replicas")
    redis_port: int | None = Field(None, ge=1, le=65535)
    redis_password: RouterRedisValue | None = Field(None, description="leave out: set REDIS_PASSWORD instead")
    redis_url: RouterRedisValue | None = Field(None, description="instead of host and port, without a password")


class LiteLLM(StrictModel):
    master_key_env: EnvVarName = "LITELLM_MASTER_KEY"
    files_backend: Name | None = Field(
        None,
        description="the backend /v1/files and /v1/batches go to (LiteLLM's files_settings) when a request "
        "names no model, through LiteLLM's OpenAI files client (so it must speak OpenAI's files and batches "
        "API); defaults to the backend of the first chat model",
    )
    settings: LitellmSettings = Field(default_factory=LitellmSettings, description="litellm_settings")
    general_settings: GeneralSettings = Field(default_factory=GeneralSettings)
