"""The OPA policies: versions, modes per environment and the data the Rego reads."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from compiler.model._base import Name, SemVer, StrictModel

Mode = Literal["enforce", "monitor", "off"]
PiiCategory = Literal["email", "phone", "ssn", "credit_card", "ip_address", "secret"]


class Jailbreak(StrictModel):
    phrases: list[str] = Field(default_factory=list)


class ModelBudget(StrictModel):
    max_input_tokens: int | None = Field(None, ge=1)
    max_output_tokens: int | None = Field(None, ge=1)


class TokenBudget(StrictModel):
    max_input_tokens: int = Field(8000, ge=1)
    max_output_tokens: int = Field(4096, ge=1)
    per_model: dict[str, ModelBudget] = Field(default_factory=dict)


class PromptPolicy(StrictModel):
    version: SemVer = Field(description="policy_version (SDS-047); must match the Rego header")
    mode: dict[Name, Mode] = Field(description="enforcement mode per environment")
    pii: list[PiiCategory] = Field(default_factory=list)
    jailbreak: Jailbreak = Jailbreak()
    token_budget: TokenBudget = TokenBudget()


class OutputPolicy(StrictModel):
    version: SemVer
    mode: dict[Name, Mode]
    pii: list[PiiCategory] = Field(default_factory=list)
    action: Literal["block", "redact"] = "block"


class Policies(StrictModel):
    prompt: PromptPolicy
    output: OutputPolicy
