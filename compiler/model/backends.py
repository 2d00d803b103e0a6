"""Backend classes (seed 003) and the models LiteLLM serves on them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

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
    litellm_params: dict[str, Any] = Field(description="passed to LiteLLM; needs `model`")
    fallbacks: list[str] = Field(default_factory=list)
    timeout_s: float | None = Field(None, gt=0)
    retries: int | None = Field(None, ge=0)


RoutingStrategy = Literal[
    "simple-shuffle", "least-busy", "latency-based-routing", "cost-based-routing",
    "usage-based-routing", "usage-based-routing-v2",
]


class Router(StrictModel):
    routing_strategy: RoutingStrategy = "simple-shuffle"
    num_retries: int = Field(2, ge=0)
    timeout_s: float = Field(60.0, gt=0)
    allowed_fails: int = Field(3, ge=0)
    cooldown_time_s: float = Field(30.0, ge=0)


class LiteLLM(StrictModel):
    master_key_env: EnvVarName = "LITELLM_MASTER_KEY"
    files_backend: Name | None = Field(
        None,
        description="the backend /v1/files and /v1/batches go to (LiteLLM's files_settings) when a request "
        "names no model, through LiteLLM's OpenAI files client (so it must speak OpenAI's files and batches "
        "API); defaults to the backend of the first chat model",
    )
    settings: dict[str, Any] = Field(default_factory=dict, description="litellm_settings")
    general_settings: dict[str, Any] = Field(default_factory=dict)
