"""PromQL over the metrics the gateway exports (runtime/telemetry.py, /metrics on the operations
port), shared by the alert rules and the dashboard so both measure the same thing the same way.

prometheus_client adds `_total` to counters and `_bucket`/`_sum`/`_count` to histograms; the names
here are the exported ones (tests/compiler/test_monitoring.py holds them against a live /metrics).
"""

from __future__ import annotations

from collections.abc import Mapping

REQUESTS = "policy_gateway_requests_total"
REQUEST_DURATION_BUCKET = "policy_gateway_request_duration_seconds_bucket"
UPSTREAM_DURATION_BUCKET = "policy_gateway_upstream_duration_seconds_bucket"
BREAKER_STATE = "policy_gateway_circuit_breaker_state"
POLICY_DECISIONS = "policy_gateway_policy_decisions_total"
POLICY_ERRORS = "policy_gateway_policy_errors_total"
RATE_LIMITED = "policy_gateway_rate_limited_total"
REDIS_UNAVAILABLE = "policy_gateway_redis_unavailable_total"
ADMISSION_REJECTIONS = "policy_gateway_admission_rejections_total"
INFLIGHT = "policy_gateway_inflight"
TOKENS = "policy_gateway_tokens_total"

UPSTREAM_BREAKER = "llm-provider"  # runtime/gateway/app.py names the upstream's breaker so
WINDOW = "5m"  # rates and increases: long enough for a 30 s or 1 min scrape interval


def select(metric: str, match: Mapping[str, str], **labels: str) -> str:
    """`metric{…}` with the environment's match labels, then `labels` (a value starting with `~`
    is a regular expression)."""
    matchers = [f'{k}="{v}"' for k, v in match.items()]
    for key, value in labels.items():
        matchers.append(f'{key}=~"{value[1:]}"' if value.startswith("~") else f'{key}="{value}"')
    return f"{metric}{{{','.join(matchers)}}}" if matchers else metric


def error_ratio(match: Mapping[str, str]) -> str:
    """The share of requests answered 5xx."""
    errors = select(REQUESTS, match, status="~5..")
    return f"sum(rate({errors}[{WINDOW}])) / sum(rate({select(REQUESTS, match)}[{WINDOW}]))"


def budget_ratio(match: Mapping[str, str]) -> str:
    """The share of requests refused 429 because their key's token budget was spent."""
    refused = select(RATE_LIMITED, match, limit="tokens")
    return f"sum(rate({refused}[{WINDOW}])) / sum(rate({select(REQUESTS, match)}[{WINDOW}]))"


def breaker_not_closed(match: Mapping[str, str]) -> str:
    """1 while the upstream breaker is open or only letting its probe through."""
    state = select(BREAKER_STATE, match, breaker=UPSTREAM_BREAKER, state="~open|half_open")
    return f"max({state})"
