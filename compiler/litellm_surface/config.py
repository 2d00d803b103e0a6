"""A whole LiteLLM proxy config.yaml (litellm.proxy._types.ConfigYAML and the other top-level keys
proxy_server.py load_config reads), as `gatewayctl litellm-check` validates it."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from compiler.litellm_surface._base import LiteLLMModel
from compiler.litellm_surface.general import GeneralSettings
from compiler.litellm_surface.providers import LiteLLMParams
from compiler.litellm_surface.router import RouterSettings
from compiler.litellm_surface.settings import LitellmSettings

# environment_variables values: the proxy sets os.environ[key] = str(value)
Scalar = str | int | float | bool | None


class ModelEntry(LiteLLMModel):
    """litellm.types.router.ModelConfig / Deployment: one entry of model_list."""

    model_name: str = Field(min_length=1, description="the name clients ask for")
    litellm_params: LiteLLMParams
    model_info: dict[str, Any] | None = None
    # The router reads these beside litellm_params too (router.py: model.get("tpm")).
    tpm: int | None = Field(None, ge=0)
    rpm: int | None = Field(None, ge=0)


class GuardrailEntry(LiteLLMModel):
    """litellm.types.guardrails.Guardrail: one entry of guardrails."""

    guardrail_name: str = Field(min_length=1)
    litellm_params: dict[str, Any]
    guardrail_info: dict[str, Any] | None = None


class LiteLLMConfig(LiteLLMModel):
    model_list: list[ModelEntry] | None = None
    router_settings: RouterSettings | None = None
    litellm_settings: LitellmSettings | None = None
    general_settings: GeneralSettings | None = None
    environment_variables: dict[str, Scalar] | None = None
    guardrails: list[GuardrailEntry] | None = None
    # Read by load_config as lists or maps of entries LiteLLM validates itself when it loads them.
    mcp_servers: dict[str, dict[str, Any]] | None = None
    mcp_tools: list[dict[str, Any]] | None = None
    agents: list[dict[str, Any]] | None = None
    agent_list: list[dict[str, Any]] | None = None
    files_settings: list[dict[str, Any]] | None = None
    finetune_settings: list[dict[str, Any]] | None = None
    assistant_settings: dict[str, Any] | None = None
    credential_list: list[dict[str, Any]] | None = None
    callback_settings: dict[str, Any] | None = None
    default_vertex_config: dict[str, Any] | None = None
    vector_store_registry: list[dict[str, Any]] | None = None
    search_tools: list[dict[str, Any]] | None = None
    sandbox_tools: list[dict[str, Any]] | None = None
    prompts: list[dict[str, Any]] | None = None
    policies: dict[str, Any] | None = None
    policy_attachments: list[dict[str, Any]] | None = None
    worker_registry: list[dict[str, Any]] | None = None
    include: list[str] | None = Field(None, description="other config files merged into this one")
