"""A Grafana dashboard of the policy gateway for one environment: `generated/<env>/monitoring/dashboard.json`.

Import it into Grafana (or provision it from a ConfigMap); it asks for a Prometheus data source.
The queries are those of the alerts (compiler/emit/_promql.py), and the error-share panel draws
the environment's alert threshold, so what a person sees is what pages them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from compiler.emit import _promql as q
from compiler.emit._json import dump_json
from compiler.plan import EnvPlan

DASHBOARD_PATH = "monitoring/dashboard.json"
_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_WIDTH, _HEIGHT = 12, 8  # two panels a row on Grafana's 24-column grid


def _panels(match: Mapping[str, str]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(title, unit, [(legend, query)]) in reading order."""
    w = q.WINDOW

    def rate(metric: str, by: str, **labels: str) -> str:
        return f"sum by ({by}) (rate({q.select(metric, match, **labels)}[{w}]))"

    def quantile(bucket: str, phi: float, by: str = "le") -> str:
        return f"histogram_quantile({phi}, sum by ({by}) (rate({q.select(bucket, match)}[{w}])))"

    return [
        ("Requests by status", "reqps", [("{{status}}", rate(q.REQUESTS, "status"))]),
        ("Share of requests answered 5xx", "percentunit", [("5xx", q.error_ratio(match))]),
        ("Request latency (gateway)", "s", [
            (f"p{int(phi * 100)}", quantile(q.REQUEST_DURATION_BUCKET, phi)) for phi in (0.5, 0.95, 0.99)
        ]),
        ("Upstream latency p95 by outcome", "s", [
            ("{{outcome}}", quantile(q.UPSTREAM_DURATION_BUCKET, 0.95, "le, outcome")),
        ]),
        ("Circuit breakers (1 = in that state)", "short", [
            ("{{breaker}} {{state}}", f"max by (breaker, state) ({q.select(q.BREAKER_STATE, match)})"),
        ]),
        ("Policy decisions", "reqps", [("{{policy}} {{decision}}", rate(q.POLICY_DECISIONS, "policy, decision"))]),
        ("Policy engine failures", "short", [
            ("{{policy}} {{action}}",
             f"sum by (policy, action) (increase({q.select(q.POLICY_ERRORS, match)}[{w}]))"),
        ]),
        ("Refused by rate limit and token budget", "reqps", [("{{limit}}", rate(q.RATE_LIMITED, "limit"))]),
        ("Share refused by token budgets", "percentunit", [("budget", q.budget_ratio(match))]),
        ("Redis unavailable (decisions without Redis)", "short", [
            ("{{operation}}",
             f"sum by (operation) (increase({q.select(q.REDIS_UNAVAILABLE, match)}[{w}]))"),
        ]),
        ("Admission: in flight and refused", "short", [
            ("in flight {{backend_class}}", f"sum by (backend_class) ({q.select(q.INFLIGHT, match)})"),
            ("refused/s {{backend_class}}", rate(q.ADMISSION_REJECTIONS, "backend_class")),
        ]),
        ("Tokens by model", "short", [("{{model}} {{direction}}", rate(q.TOKENS, "model, direction"))]),
    ]


def _panel(index: int, title: str, unit: str, targets: list[tuple[str, str]],
           threshold: float | None) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if threshold is not None:
        steps.append({"color": "red", "value": threshold})
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "datasource": _DATASOURCE,
        "gridPos": {"x": (index % 2) * _WIDTH, "y": (index // 2) * _HEIGHT, "w": _WIDTH, "h": _HEIGHT},
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": {"mode": "absolute", "steps": steps},
                "custom": {"thresholdsStyle": {"mode": "line" if threshold is not None else "off"}},
            },
            "overrides": [],
        },
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": _DATASOURCE, "expr": expr, "legendFormat": legend}
            for i, (legend, expr) in enumerate(targets)
        ],
    }


def dashboard(env: EnvPlan) -> dict[str, Any]:
    thresholds = {a.name: a.threshold for a in env.monitoring.alerts}
    panels = _panels(env.monitoring.match_labels)
    drawn = {"Share of requests answered 5xx": thresholds.get("error_rate"),
             "Share refused by token budgets": thresholds.get("budget_exhaustion")}
    return {
        "uid": f"policy-gateway-{env.name}",
        "title": f"Policy gateway ({env.name})",
        "tags": ["policy-gateway", env.name],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{
            "name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0,
        }]},
        "panels": [
            _panel(i, title, unit, targets, drawn.get(title)) for i, (title, unit, targets) in enumerate(panels)
        ],
    }


def render_env(env: EnvPlan) -> dict[str, str]:
    if env.service_with_role("policy-gateway") is None:
        return {}
    return {DASHBOARD_PATH: dump_json(dashboard(env))}
