"""The monitoring artifacts: alert rules and the dashboard name only metrics the gateway really
exports (the exposition /metrics serves, from runtime.telemetry.GatewayMetrics), thresholds and
severities follow the specs over the defaults of each sea_env, and the dashboard is deterministic
and well formed. promtool's own checks are in test_alert_rules_promtool.py."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from compiler.cli import main
from runtime.telemetry import GatewayMetrics

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "generated"
ENVIRONMENTS = ("dev", "staging", "prod")
METRIC_RE = re.compile(r"\bpolicy_gateway_[a-z0-9_]+")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_series_names() -> set[str]:
    """Every series name /metrics can carry, read from the exposition itself (HELP/TYPE lines are
    there before a labelled metric has its first sample)."""
    text = generate_latest(GatewayMetrics().registry).decode()
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in _SUFFIXES.get(family.type, ("",))
    }


def alert_rules(env: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((GENERATED / env / "monitoring" / "alerts.yaml").read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def dashboard(env: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GENERATED / env / "monitoring" / "dashboard.json").read_text())
    return data


def queries(env: str) -> list[str]:
    return [r["expr"] for r in alert_rules(env)] + [
        t["expr"] for panel in dashboard(env)["panels"] for t in panel["targets"]
    ]


def test_the_exposition_lists_the_metrics_the_alerts_need() -> None:
    names = exported_series_names()
    assert "policy_gateway_redis_unavailable_total" in names  # added for the Redis alert
    assert "policy_gateway_request_duration_seconds_bucket" in names


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_query_names_only_exported_metrics(env: str) -> None:
    exported = exported_series_names()
    for query in queries(env):
        used = set(METRIC_RE.findall(query))
        assert used, f"{query!r} names no gateway metric"
        assert used <= exported, f"{query!r} names {sorted(used - exported)}, which /metrics does not export"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_dashboard_is_well_formed(env: str) -> None:
    board = dashboard(env)
    assert board["uid"] == f"policy-gateway-{env}"
    panels = board["panels"]
    assert [p["id"] for p in panels] == list(range(1, len(panels) + 1))
    cells = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24
        cell = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & cell, f"panel {panel['title']!r} overlaps another"
        cells |= cell
        assert panel["targets"] and all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
    assert board["templating"]["list"][0]["name"] == "datasource"


def test_dashboard_draws_the_environments_alert_threshold() -> None:
    prod = {p["title"]: p for p in dashboard("prod")["panels"]}
    steps = prod["Share of requests answered 5xx"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    error_rule = next(r for r in alert_rules("prod") if r["alert"] == "PolicyGatewayErrorRate")
    assert steps[-1]["value"] == float(error_rule["expr"].rsplit(">", 1)[1])


def by_alert(env: str) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in alert_rules(env)}


def test_defaults_follow_sea_env_and_an_open_breaker_pages_in_production() -> None:
    prod, dev = by_alert("prod"), by_alert("dev")
    assert prod["PolicyGatewayUpstreamBreakerOpen"]["labels"]["severity"] == "page"
    assert prod["PolicyGatewayUpstreamBreakerOpen"]["for"] == "1m"
    assert "this is an outage" in prod["PolicyGatewayUpstreamBreakerOpen"]["annotations"]["description"]
    assert dev["PolicyGatewayUpstreamBreakerOpen"]["labels"]["severity"] == "ticket"
    assert prod["PolicyGatewayErrorRate"]["expr"].endswith("> 0.02")
    assert dev["PolicyGatewayErrorRate"]["expr"].endswith("> 0.2")
    assert {r["labels"]["environment"] for r in alert_rules("staging")} == {"staging"}


def compile_with(
    tmp_path: Path, monitoring: str, env: str = "prod", edit: tuple[str, str] = ("", "")
) -> dict[str, dict[str, Any]]:
    """The project's specs with `monitoring` as their monitoring section (and gateway.yaml's text
    `edit[0]` replaced by `edit[1]`), compiled; env's alert rules."""
    for name in ("specs", "rego", "docs"):
        shutil.copytree(ROOT / name, tmp_path / name)
    gateway = tmp_path / "specs" / "gateway.yaml"
    text = gateway.read_text()
    assert "monitoring:\n  prometheus_rule: false\n" in text
    assert edit[0] in text
    gateway.write_text(text.replace("monitoring:\n  prometheus_rule: false\n", "").replace(*edit))
    (tmp_path / "specs" / "monitoring.yaml").write_text(monitoring)
    result = CliRunner().invoke(main, ["-C", str(tmp_path), "compile", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((tmp_path / "out" / env / "monitoring" / "alerts.yaml").read_text())
    return {r["alert"]: r for r in data["groups"][0]["rules"]}


def test_the_specs_override_thresholds_and_add_match_labels(tmp_path: Path) -> None:
    rules = compile_with(
        tmp_path,
        "monitoring:\n"
        "  match_labels: {namespace: llm-gateway-prod}\n"
        "  runbook_url: https://runbooks.example.com/policy-gateway\n"
        "  alerts:\n"
        "    error_rate: {threshold: 0.1, for: 2m, severity: ticket}\n"
        "    budget_exhaustion: {enabled: false}\n",
    )
    assert "PolicyGatewayTokenBudgetsExhausted" not in rules
    error = rules["PolicyGatewayErrorRate"]
    assert (error["for"], error["labels"]["severity"]) == ("2m", "ticket")
    assert error["expr"].endswith("> 0.1")
    assert error["annotations"]["runbook_url"] == "https://runbooks.example.com/policy-gateway#policygatewayerrorrate"
    for rule in rules.values():
        selectors = re.findall(r"policy_gateway_[a-z_]+(\{[^}]*\})?", rule["expr"])
        assert selectors and all('namespace="llm-gateway-prod"' in s for s in selectors), rule["expr"]


def test_an_open_breaker_is_a_ticket_where_the_fail_mode_is_open(tmp_path: Path) -> None:
    staging = "  staging:\n    sea_env: staging\n    enable_policy_gateway: true\n    fail_mode: "
    rules = compile_with(tmp_path, "monitoring: {}\n", env="staging", edit=(staging + "closed", staging + "open"))
    breaker = rules["PolicyGatewayUpstreamBreakerOpen"]
    assert breaker["labels"]["severity"] == "ticket"
    assert "The fail mode is open" in breaker["annotations"]["description"]
    compiled = by_alert("staging")["PolicyGatewayUpstreamBreakerOpen"]  # as compiled: fail mode closed
    assert compiled["labels"]["severity"] == "page"
