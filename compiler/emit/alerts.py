"""Prometheus alert rules for one environment: `generated/<env>/monitoring/alerts.yaml`.

A rule file as `promtool check rules` and Prometheus' `rule_files` read it; the Helm chart carries
the same groups as a PrometheusRule (helm.py). Thresholds, `for` and severity come from the plan
(the spec's `monitoring.alerts` over the defaults of the environment's sea_env).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from compiler.emit import _promql as q
from compiler.emit._yaml import dump_yaml
from compiler.plan import AlertPlan, EnvPlan

ALERTS_PATH = "monitoring/alerts.yaml"


@dataclass(frozen=True)
class _Rule:
    alert: str
    expr: Callable[[Mapping[str, str], str], str]  # (match labels, threshold) -> PromQL
    summary: str
    description: Callable[[AlertPlan, str], str]  # (alert, fail mode) -> text


def _breaker_description(alert: AlertPlan, fail_mode: str) -> str:
    if fail_mode == "closed":
        return ("The upstream (LiteLLM) circuit breaker is not closed. The fail mode is closed, so every "
                "model request is refused with 503: this is an outage.")
    return ("The upstream (LiteLLM) circuit breaker is not closed. The fail mode is open: requests are "
            "failing or passing without their upstream; check LiteLLM and its providers.")


RULES: Mapping[str, _Rule] = {
    "breaker_open": _Rule(
        "PolicyGatewayUpstreamBreakerOpen",
        lambda m, _t: f"{q.breaker_not_closed(m)} == 1",
        "The policy gateway's upstream circuit breaker is open",
        _breaker_description,
    ),
    "error_rate": _Rule(
        "PolicyGatewayErrorRate",
        lambda m, t: f"({q.error_ratio(m)}) > {t}",
        "The policy gateway answers too many requests with 5xx",
        lambda a, _f: f"More than {a.threshold:.0%} of requests were answered 5xx over {q.WINDOW}.",
    ),
    "policy_errors": _Rule(
        "PolicyGatewayPolicyEngineFailures",
        lambda m, t: f"sum by (policy) (increase({q.select(q.POLICY_ERRORS, m)}[{q.WINDOW}])) > {t}",
        "Policy evaluations are failing",
        lambda a, f: f"More than {a.threshold:g} evaluations of a policy failed in {q.WINDOW}; with fail mode "
        f"{f} each such request was {'refused' if f == 'closed' else 'let through unchecked'}.",
    ),
    "budget_exhaustion": _Rule(
        "PolicyGatewayTokenBudgetsExhausted",
        lambda m, t: f"({q.budget_ratio(m)}) > {t}",
        "Many requests are refused because their token budget is spent",
        lambda a, _f: f"More than {a.threshold:.0%} of requests were refused 429 by a token budget over "
        f"{q.WINDOW}: budgets too small for the traffic, or a client overspending.",
    ),
    "redis_unavailable": _Rule(
        "PolicyGatewayRedisUnavailable",
        lambda m, t: f"sum(increase({q.select(q.REDIS_UNAVAILABLE, m)}[{q.WINDOW}])) > {t}",
        "The policy gateway cannot reach Redis",
        lambda a, f: f"Rate-limit or admission decisions failed for want of Redis in the last {q.WINDOW}; "
        f"with fail mode {f} those requests were {'refused (503)' if f == 'closed' else 'let through unlimited'}.",
    ),
}


def _rule(env: EnvPlan, alert: AlertPlan) -> dict[str, Any]:
    rule = RULES[alert.name]
    monitoring = env.monitoring
    annotations = {"summary": rule.summary, "description": rule.description(alert, env.fail_mode)}
    if monitoring.runbook_url:
        annotations["runbook_url"] = f"{monitoring.runbook_url}#{rule.alert.lower()}"
    return {
        "alert": rule.alert,
        "expr": rule.expr(monitoring.match_labels, f"{alert.threshold or 0:g}"),
        "for": alert.for_,
        "labels": {"severity": alert.severity, "environment": env.name, "service": "policy-gateway"},
        "annotations": annotations,
    }


def groups(env: EnvPlan) -> list[dict[str, Any]]:
    """The rule groups, as a rule file and a PrometheusRule's spec both hold them."""
    return [{"name": f"policy-gateway-{env.name}", "rules": [_rule(env, a) for a in env.monitoring.alerts]}]


def render_env(env: EnvPlan) -> dict[str, str]:
    if env.service_with_role("policy-gateway") is None or not env.monitoring.alerts:
        return {}
    header = (f"# Prometheus alert rules of the policy gateway, environment {env.name} (sea_env {env.sea_env}).\n"
              f"#   promtool check rules generated/{env.name}/{ALERTS_PATH}\n")
    return {ALERTS_PATH: header + dump_yaml({"groups": groups(env)})}
