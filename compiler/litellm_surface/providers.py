"""A model's litellm_params, by provider prefix: what each provider takes (GenericLiteLLMParams'
fields grouped by the provider that reads them), a parameter of another provider being an error."""

from __future__ import annotations

import functools
import operator
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Discriminator, Field, Tag, create_model

from compiler.litellm_surface._base import PassThrough
from compiler.litellm_surface._from_litellm import LITELLM_PARAMS

# The parameters every provider takes: limits, retries, budgets, tags, pricing, mocks.
_COMMON = frozenset(
    {n for n in LITELLM_PARAMS if "cost" in n}
    | {"timeout", "stream_timeout", "max_retries", "rpm", "tpm", "itpm", "otpm", "tags", "tag_regex", "drop_params",
       "mock_response", "merge_reasoning_content_in_choices", "litellm_credential_name", "max_budget",
       "budget_duration", "use_in_pass_through", "use_litellm_proxy", "configurable_clientside_auth_params",
       "max_file_size_mb", "custom_llm_provider", "tiered_pricing", "timeout_by_service_tier",
       "stream_timeout_by_service_tier", "keepalive_seconds", "allow_client_keepalive_override",
       "default_api_key_rpm_limit", "default_api_key_tpm_limit", "litellm_trace_id"}
)
# Request defaults LiteLLM forwards to the provider with every call (OpenAI's parameter names).
REQUEST_DEFAULTS = frozenset({
    "temperature", "max_tokens", "max_completion_tokens", "top_p", "stop", "seed", "frequency_penalty",
    "presence_penalty", "extra_headers", "extra_body", "reasoning_effort", "response_format", "user",
})
_HTTP = frozenset({"api_base", "api_key"})

# provider -> (model prefixes, its own parameters). Bedrock authenticates by IAM (aws_*) or a
# Bedrock API key (api_key), its endpoint overridable (api_base, aws_bedrock_runtime_endpoint:
# PrivateLink); batches stage files in S3 (s3_*).
PROVIDERS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "openai": (("openai", "text-completion-openai"),
               _HTTP | {"organization", "use_chat_completions_api", "openai_identity_provider_id",
                        "openai_identity_token_file", "openai_service_account_id"}),
    "azure": (("azure", "azure_text"),
              _HTTP | {"api_version", "azure_ad_token", "tenant_id", "client_id", "client_secret", "azure_username",
                       "azure_password", "azure_scope"}),
    "bedrock": (("bedrock",), _HTTP | {n for n in LITELLM_PARAMS if n.startswith(("aws_", "s3_"))} | {"bedrock_tags"}),
    "vertex_ai": (("vertex_ai", "vertex_ai_beta"),
                  frozenset({"api_base", "vertex_project", "vertex_location", "vertex_credentials"})),
    "anthropic": (("anthropic",), _HTTP | {n for n in LITELLM_PARAMS if n.startswith("anthropic_")}),
    "ollama": (("ollama", "ollama_chat"), _HTTP),
    "hosted_vllm": (("hosted_vllm",), _HTTP),
}
_PREFIX_TO_PROVIDER = {prefix: name for name, (prefixes, _) in PROVIDERS.items() for prefix in prefixes}


def provider_of(model: str) -> str | None:
    """The provider a model string names by its prefix (`bedrock/...` -> bedrock); None: another one."""
    return _PREFIX_TO_PROVIDER.get(model.split("/", 1)[0]) if "/" in model else None


# These authenticate by the cloud's identity (IAM, a service account) and find their endpoint from
# the region or location: a backend's base_url and api_key_env are not theirs to inject.
CLOUD_IDENTITY = frozenset({"bedrock", "vertex_ai"})


def allowed(provider: str) -> list[str]:
    """Every key a provider's litellm_params take ("other": any of GenericLiteLLMParams')."""
    own = PROVIDERS[provider][1] if provider in PROVIDERS else LITELLM_PARAMS
    return sorted(own | _COMMON | REQUEST_DEFAULTS | {"model"})


def belongs_elsewhere(provider: str, param: str) -> bool:
    """A LiteLLM parameter, but of another provider (api_version on bedrock/)."""
    return param in LITELLM_PARAMS and param not in allowed(provider)


def wrong_provider_hint(provider: str, param: str) -> str:
    owners = sorted(name for name, (_, own) in PROVIDERS.items() if param in own and name != provider)
    own = ", ".join(sorted(PROVIDERS[provider][1])) or "none of its own"
    if owners:
        return f"{param} is a parameter of {', '.join(o + '/' for o in owners)}; {provider}/ takes {own}"
    return f"{provider}/ takes {own} (and the common ones: timeout, max_retries, rpm, tpm, ...)"


# The parameters typed here; a provider's model keeps those it takes.
_TYPED: dict[str, Any] = {
    "timeout": (float | None, Field(None, gt=0)),
    "stream_timeout": (float | None, Field(None, gt=0)),
    "max_retries": (int | None, Field(None, ge=0)),
    "rpm": (int | None, Field(None, ge=0)),
    "tpm": (int | None, Field(None, ge=0)),
    "tags": (list[str] | None, None),
    "api_version": (str | None, Field(None, min_length=1, description="azure/: the API version, e.g. 2024-10-21")),
    "aws_region_name": (str | None, Field(None, min_length=1, description="bedrock/: e.g. eu-west-1")),
    "aws_role_name": (str | None, Field(None, min_length=1, description="bedrock/: the IAM role ARN to assume")),
    "vertex_project": (str | None, Field(None, min_length=1, description="vertex_ai/: the GCP project")),
    "vertex_location": (str | None, Field(None, min_length=1, description="vertex_ai/: e.g. europe-west4")),
}


def _params_model(provider: str | None) -> type[PassThrough]:
    accepted = frozenset(allowed(provider or "other"))
    # The editor's schema tells the providers apart by the model's prefix (a oneOf needs exactly one).
    prefixes = "|".join(PROVIDERS[provider][0]) if provider else None
    pattern = f"^({prefixes})/" if prefixes else f"^(?!({'|'.join(sorted(_PREFIX_TO_PROVIDER))})/)"
    fields: dict[str, Any] = {name: spec for name, spec in _TYPED.items() if name in accepted}
    fields["model"] = (str, Field(min_length=1, description="provider/model, e.g. openai/gpt-4o-mini",
                                  json_schema_extra={"pattern": pattern}))
    title = f"{provider}/ litellm_params" if provider else "litellm_params of another provider"
    model = create_model(f"{provider or 'Other'}Params", __base__=PassThrough, **fields)
    model.passthrough_keys = accepted
    model.model_config["title"] = title
    return model


PROVIDER_MODELS = {name: _params_model(name) for name in PROVIDERS}
OTHER_MODEL = _params_model(None)


def _discriminate(value: Any) -> str:
    model = value.get("model") if isinstance(value, dict) else getattr(value, "model", None)
    provider = provider_of(model) if isinstance(model, str) else None
    return f"provider[{provider or 'other'}]"


# Tags carry "[...]" so error locations drop them (compiler/typecheck.py), like pydantic's own.
if TYPE_CHECKING:
    LiteLLMParams = PassThrough
else:
    _TAGGED = tuple(Annotated[m, Tag(f"provider[{name}]")]
                    for name, m in (*PROVIDER_MODELS.items(), ("other", OTHER_MODEL)))
    LiteLLMParams = Annotated[functools.reduce(operator.or_, _TAGGED), Discriminator(_discriminate)]
