"""The compiled alert rules checked by Prometheus' own tool: `promtool check rules` on every
environment's rule file, and `promtool test rules` unit tests in which each alert fires on
synthetic series that cross its threshold for longer than its `for`, is only pending before that,
and stays silent on healthy series.

The synthetic series are sized from each environment's own threshold, so a threshold that changes
in the specs is tested as compiled. promtool: the `promtool` fixture (tests/conftest.py).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "generated"
ENVIRONMENTS = ("dev", "staging", "prod")
PER_MINUTE = 1000  # requests per minute in the synthetic traffic


def rules(env: str) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((GENERATED / env / "monitoring" / "alerts.yaml").read_text())
    (group,) = data["groups"]
    return {r["alert"]: r for r in group["rules"]}


def minutes(duration: str) -> int:
    n, unit = int(duration[:-1]), duration[-1]
    return max(1, math.ceil(n * {"s": 1 / 60, "m": 1, "h": 60}[unit]))


def threshold_of(rule: dict[str, Any]) -> float:
    return float(str(rule["expr"]).rsplit(">", 1)[1])


def share_series(status: str, share: float, also: str | None = None) -> list[dict[str, str]]:
    """Request counters where `share` of PER_MINUTE requests a minute are answered `status` (the rest
    200), and the counter `also` (a full series selector) counting those same requests."""
    bad = round(PER_MINUTE * share)
    series = [
        {"series": 'policy_gateway_requests_total{route="chat",status="200"}', "values": f"0+{PER_MINUTE - bad}x120"},
        {"series": f'policy_gateway_requests_total{{route="chat",status="{status}"}}', "values": f"0+{bad}x120"},
    ]
    if also is not None:
        series.append({"series": also, "values": f"0+{bad}x120"})
    return series


def scenarios(rule: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, str]], dict[str, str]]:
    """(series on which it fires, healthy series, the labels the expression adds) of one alert."""
    alert = rule["alert"]
    if alert == "PolicyGatewayUpstreamBreakerOpen":
        state = 'policy_gateway_circuit_breaker_state{breaker="llm-provider",state="%s"}'
        return (
            [{"series": state % "open", "values": "1x120"}, {"series": state % "closed", "values": "0x120"}],
            [{"series": state % "open", "values": "0x120"}, {"series": state % "closed", "values": "1x120"},
             # the Redis breaker open is another alert's business
             {"series": 'policy_gateway_circuit_breaker_state{breaker="redis",state="open"}', "values": "1x120"}],
            {},
        )
    t = threshold_of(rule)
    high, low = min(0.99, 2 * t + 0.05), t / 2  # shares well above and below the threshold
    if alert == "PolicyGatewayErrorRate":
        # 4xx answers, however many, are not errors of the gateway
        return share_series("503", high), share_series("503", low) + share_series("429", high)[1:], {}
    if alert == "PolicyGatewayTokenBudgetsExhausted":
        tokens = 'policy_gateway_rate_limited_total{limit="tokens"}'
        requests = 'policy_gateway_rate_limited_total{limit="requests"}'
        # refusals by the request rate limit are not budget exhaustion
        return (share_series("429", high, tokens),
                share_series("429", high, requests) + share_series("429", low, tokens)[2:], {})
    if alert == "PolicyGatewayPolicyEngineFailures":
        errors = 'policy_gateway_policy_errors_total{policy="prompt",action="refused"}'
        return ([{"series": errors, "values": f"0+{math.floor(t) + 1}x120"}],
                [{"series": errors, "values": "0x120"}], {"policy": "prompt"})
    if alert == "PolicyGatewayRedisUnavailable":
        down = 'policy_gateway_redis_unavailable_total{operation="rate_limit"}'
        return ([{"series": down, "values": f"0+{math.floor(t) + 1}x120"}], [{"series": down, "values": "0x120"}], {})
    raise AssertionError(f"no scenario for {alert}: add one")


def unit_tests(env: str) -> list[dict[str, Any]]:
    tests = []
    for name, rule in sorted(rules(env).items()):
        firing, healthy, extra = scenarios(rule)
        hold = minutes(rule["for"])
        expected = [{"exp_labels": {**rule["labels"], **extra, "alertname": name},
                     "exp_annotations": rule["annotations"]}]
        tests += [
            # rates need two samples: the condition holds from minute 1 on
            {"interval": "1m", "input_series": firing, "alert_rule_test": [
                {"eval_time": f"{hold - 1}m", "alertname": name, "exp_alerts": []},  # still pending
                {"eval_time": f"{hold + 2}m", "alertname": name, "exp_alerts": expected},
            ]},
            {"interval": "1m", "input_series": healthy, "alert_rule_test": [
                {"eval_time": f"{hold + 2}m", "alertname": name, "exp_alerts": []},
            ]},
        ]
    return tests


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_promtool_checks_the_compiled_rules(env: str, promtool: str) -> None:
    path = GENERATED / env / "monitoring" / "alerts.yaml"
    run = subprocess.run([promtool, "check", "rules", "--lint=all", "--lint-fatal", str(path)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(rules(env))} rules found" in run.stdout


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_alert_fires_after_its_for_and_not_on_healthy_series(env: str, tmp_path: Path, promtool: str) -> None:
    shutil.copy(GENERATED / env / "monitoring" / "alerts.yaml", tmp_path / "alerts.yaml")
    tests = unit_tests(env)
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(
        {"rule_files": ["alerts.yaml"], "evaluation_interval": "1m", "tests": tests}, sort_keys=False))
    run = subprocess.run([promtool, "test", "rules", "tests.yaml"], cwd=tmp_path,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout
    assert len(tests) == 2 * 5  # every alert, both ways


def test_a_broken_expectation_fails_promtool(tmp_path: Path, promtool: str) -> None:
    """The harness can fail: an alert expected on healthy series is reported by promtool."""
    shutil.copy(GENERATED / "prod" / "monitoring" / "alerts.yaml", tmp_path / "alerts.yaml")
    rule = rules("prod")["PolicyGatewayUpstreamBreakerOpen"]
    _firing, healthy, _ = scenarios(rule)
    wrong = [{"interval": "1m", "input_series": healthy, "alert_rule_test": [{
        "eval_time": "10m", "alertname": rule["alert"],
        "exp_alerts": [{"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}]}]}]
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump({"rule_files": ["alerts.yaml"], "tests": wrong}))
    run = subprocess.run([promtool, "test", "rules", "tests.yaml"], cwd=tmp_path,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 1
    assert "PolicyGatewayUpstreamBreakerOpen" in run.stdout + run.stderr


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_dashboard_query_parses_as_promql(env: str, tmp_path: Path, promtool: str) -> None:
    """promtool parses each panel's query, as a recording rule (Grafana's own parser is not here)."""
    board = json.loads((GENERATED / env / "monitoring" / "dashboard.json").read_text())
    exprs = [t["expr"] for panel in board["panels"] for t in panel["targets"]]
    records = [{"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(exprs)]
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    run = subprocess.run([promtool, "check", "rules", str(tmp_path / "queries.yaml")],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in run.stdout
