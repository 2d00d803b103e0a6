"""Environments (dev, staging, prod, …): switches plus overlays of any other field."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from compiler.model._base import FailMode, StrictModel
from compiler.model.observability import Observability

GuardrailsMode = Literal["off", "in_proxy"]


class Environment(StrictModel):
    sea_env: str = Field(min_length=1, description="value of SEA_ENV; `production` turns on the prod invariants")
    enable_policy_gateway: bool = Field(description="LLM_ENABLE_POLICY_GATEWAY")
    fail_mode: FailMode | None = Field(None, description="POLICY_GATEWAY_FAIL_MODE; defaults to routing.fail_mode")
    guardrails: GuardrailsMode = Field(
        "off",
        description="in_proxy: the LiteLLM proxy runs the compiled policies itself (a guardrails: section "
        "in its config), so an environment without the gateway still enforces or monitors them",
    )
    air_gapped: bool = Field(
        False,
        description="seed 002 requirement 16 (moat mode): no cloud-only callbacks and no hosts outside the "
        "internal network (backends, MCP servers, agents, Redis)",
    )
    allow_external_fallback: bool = Field(
        False,
        description="a model on a local or private backend may fall back to one on an external backend (the "
        "prompt then leaves the site); never in an air-gapped environment",
    )
    observability: Observability | None = Field(
        None,
        description="the OTLP collector this environment's gateway and LiteLLM proxy export to; "
        "none: telemetry stays local (JSON logs, /metrics)",
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="a partial spec document merged over the base for this environment",
    )
