"""Environments (dev, staging, prod, …): switches plus overlays of any other field."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from compiler.model._base import FailMode, StrictModel


class Environment(StrictModel):
    sea_env: str = Field(min_length=1, description="value of SEA_ENV; `production` turns on the prod invariants")
    enable_policy_gateway: bool = Field(description="LLM_ENABLE_POLICY_GATEWAY")
    fail_mode: FailMode | None = Field(None, description="POLICY_GATEWAY_FAIL_MODE; defaults to routing.fail_mode")
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="a partial spec document merged over the base for this environment",
    )
