"""Teams and client keys (seed 002, requirements 11 and 12): who may call which models, with what
budget and rate limits. The gateway authenticates a key and LiteLLM enforces and accounts what
the key and its team may do (docs/deploy.md, "Identity")."""

from __future__ import annotations

from pydantic import Field

from compiler.model._base import Name, StrictModel


class Allowance(StrictModel):
    """What a team or a key may use; a key within a team gets the stricter of both."""

    models: list[str] = Field(
        default_factory=list, description="model names it may call; empty: every model (of its team)"
    )
    max_budget: float | None = Field(None, gt=0, description="USD it may spend per budget_duration")
    budget_duration: str | None = Field(
        None, description="how often the spend resets: <n>s, <n>m, <n>h, <n>d, <n>w or <n>mo (LiteLLM's units)"
    )
    rpm_limit: int | None = Field(None, ge=1, description="requests per minute")
    tpm_limit: int | None = Field(None, ge=1, description="tokens per minute")


class Team(Allowance):
    pass


class ClientKey(Allowance):
    key: str = Field(
        description="the key's value, only as os.environ/NAME: the gateway and LiteLLM read it from NAME"
    )
    team: Name | None = Field(None, description="the team it belongs to (its spend counts there too)")
