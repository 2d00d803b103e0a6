"""The `monitoring` section: the Prometheus alerts and Grafana dashboard compiled per environment.

Every field is optional: what is left out comes from the environment's sea_env (ALERT_DEFAULTS), so
production pages sooner and on less than staging or development.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from compiler.model._base import StrictModel

# Prometheus' duration syntax, as `for:` takes it
Duration = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*(s|m|h)$")]
LabelName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
LabelValue = Annotated[str, StringConstraints(pattern=r'^[^"\\\n]*$')]  # fits a PromQL "..." as is
Severity = Literal["page", "ticket"]
AlertName = Literal["breaker_open", "error_rate", "policy_errors", "budget_exhaustion", "redis_unavailable"]


class Alert(StrictModel):
    enabled: bool = True
    for_: Duration | None = Field(None, alias="for", description='how long the condition must hold, e.g. "5m"')
    threshold: float | None = Field(
        None,
        ge=0,
        description="error_rate and budget_exhaustion: a share of requests (0.05 = 5 %); policy_errors and "
        "redis_unavailable: failures in 5 minutes above which it fires; breaker_open has none",
    )
    severity: Severity | None = Field(None, description="page (wake someone) or ticket")


class Alerts(StrictModel):
    breaker_open: Alert = Alert()
    error_rate: Alert = Alert()
    policy_errors: Alert = Alert()
    budget_exhaustion: Alert = Alert()
    redis_unavailable: Alert = Alert()


class Monitoring(StrictModel):
    alerts: Alerts = Alerts()
    prometheus_rule: bool = Field(
        False,
        description="render the alerts as a PrometheusRule in the Helm chart (needs the Prometheus Operator's CRD)",
    )
    match_labels: dict[LabelName, LabelValue] = Field(
        default_factory=dict,
        description="label matchers added to every query, so one Prometheus watching several environments "
        'tells them apart, e.g. {namespace: llm-gateway-prod}',
    )
    runbook_url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = Field(
        None, description="base URL of the runbooks; each alert links <runbook_url>#<alert name>"
    )


@dataclass(frozen=True)
class AlertDefaults:
    for_: str
    threshold: float | None
    severity: Severity


# By sea_env (anything not listed takes "development"). An open breaker refuses every request when
# the fail mode is closed, so there it pages in every environment that is not development.
ALERT_DEFAULTS: Mapping[str, Mapping[AlertName, AlertDefaults]] = MappingProxyType({
    "production": MappingProxyType({
        "breaker_open": AlertDefaults("1m", None, "page"),
        "error_rate": AlertDefaults("5m", 0.02, "page"),
        "policy_errors": AlertDefaults("5m", 0, "page"),
        "budget_exhaustion": AlertDefaults("15m", 0.05, "ticket"),
        "redis_unavailable": AlertDefaults("1m", 0, "page"),
    }),
    "staging": MappingProxyType({
        "breaker_open": AlertDefaults("5m", None, "page"),
        "error_rate": AlertDefaults("10m", 0.05, "ticket"),
        "policy_errors": AlertDefaults("10m", 0, "ticket"),
        "budget_exhaustion": AlertDefaults("30m", 0.2, "ticket"),
        "redis_unavailable": AlertDefaults("5m", 0, "ticket"),
    }),
    "development": MappingProxyType({
        "breaker_open": AlertDefaults("10m", None, "ticket"),
        "error_rate": AlertDefaults("15m", 0.2, "ticket"),
        "policy_errors": AlertDefaults("15m", 0, "ticket"),
        "budget_exhaustion": AlertDefaults("1h", 0.5, "ticket"),
        "redis_unavailable": AlertDefaults("15m", 0, "ticket"),
    }),
})
