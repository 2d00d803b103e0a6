"""OpenTelemetry events and spans, Prometheus metrics and JSON logs for the policy gateway.

Names are specified in docs/specs/SDS-030-observability.md. Nothing here ever receives prompt or
completion text: callers pass categories, versions, counts and states only.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import _logs, trace
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from runtime.breaker import BreakerState, StateChange

__all__ = [
    "BREAKER_EVENT",
    "GatewayMetrics",
    "JsonLogFormatter",
    "breaker_event_listener",
    "configure_logging",
    "configure_tracing",
    "emit_event",
]

BREAKER_EVENT = "policy_gateway.circuit_breaker.state_change"
INSTRUMENTATION_NAME = "policy_gateway"

_log = logging.getLogger("policy_gateway.events")
LOGGERS = ("policy_gateway", "runtime", "uvicorn")  # the process's loggers, written as JSON


def emit_event(
    name: str,
    attributes: Mapping[str, str | int | float | bool],
    *,
    logger_provider: _logs.LoggerProvider | None = None,
    severity: _logs.SeverityNumber = _logs.SeverityNumber.INFO,
) -> None:
    """One event, three sinks: the OTel event (logs API with `event_name`), a span event on the
    current span when one is recording, and a JSON log line (always, so it is seen even when no
    OpenTelemetry exporter is configured)."""
    attrs = dict(attributes)
    otel_logger = (
        logger_provider.get_logger(INSTRUMENTATION_NAME)
        if logger_provider is not None
        else _logs.get_logger(INSTRUMENTATION_NAME)
    )
    otel_logger.emit(event_name=name, attributes=attrs, severity_number=severity)
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event(name, attributes=attrs)
    level = logging.WARNING if severity.value >= _logs.SeverityNumber.WARN.value else logging.INFO
    _log.log(level, name, extra={"event": name, "attributes": attrs})


def breaker_event_listener(
    logger_provider: _logs.LoggerProvider | None = None,
) -> Callable[[StateChange], None]:
    """A CircuitBreaker listener emitting `policy_gateway.circuit_breaker.state_change`."""

    def listener(change: StateChange) -> None:
        emit_event(
            BREAKER_EVENT,
            {
                "state": change.state.value,
                "previous_state": change.previous.value,
                "failure_count": change.failure_count,
                "timestamp": change.timestamp,
                "breaker": change.name,
            },
            logger_provider=logger_provider,
            severity=(_logs.SeverityNumber.WARN if change.state is BreakerState.OPEN else _logs.SeverityNumber.INFO),
        )

    return listener


# Upstream answers take 10 ms to minutes; the gateway's own work is sub-millisecond.
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class GatewayMetrics:
    """The gateway's Prometheus metrics, on their own registry (one per app instance, so several
    gateways in one test process do not collide in the global registry)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "policy_gateway_requests",
            "Requests answered, by route and HTTP status.",
            ["route", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            "policy_gateway_request_duration_seconds",
            "Time from request received to response started, by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_duration = Histogram(
            "policy_gateway_upstream_duration_seconds",
            "Time the upstream (LiteLLM) took to answer, by outcome.",
            ["outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "policy_gateway_policy_decisions",
            "Policy decisions by policy, mode, decision and violation category ('none' if clean).",
            ["policy", "mode", "decision", "category"],
            registry=r,
        )
        self.policy_errors = Counter(
            "policy_gateway_policy_errors",
            "Policy evaluations that failed, and what the fail mode did about it.",
            ["policy", "action"],
            registry=r,
        )
        self.fail_open = Counter(
            "policy_gateway_fail_open",
            "Requests let through without a decision because POLICY_GATEWAY_FAIL_MODE=open.",
            ["reason"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "policy_gateway_circuit_breaker_state",
            "1 for the breaker's current state, 0 for the others.",
            ["breaker", "state"],
            registry=r,
        )
        self.breaker_transitions = Counter(
            "policy_gateway_circuit_breaker_transitions",
            "Circuit breaker state changes.",
            ["breaker", "from_state", "to_state"],
            registry=r,
        )
        self.breaker_rejections = Counter(
            "policy_gateway_circuit_breaker_rejections",
            "Requests answered 503 by an open breaker without touching the upstream.",
            ["breaker"],
            registry=r,
        )
        self.admission_rejections = Counter(
            "policy_gateway_admission_rejections",
            "Requests refused (429) because a backend class was at its concurrency limit.",
            ["backend_class", "route_kind"],
            registry=r,
        )
        self.inflight = Gauge(
            "policy_gateway_inflight",
            "Requests in flight per backend class and route kind.",
            ["backend_class", "route_kind"],
            registry=r,
        )
        self.rate_limited = Counter(
            "policy_gateway_rate_limited",
            "Requests refused (429) by the per-key rate limit or token budget.",
            ["limit"],
            registry=r,
        )
        self.redis_unavailable = Counter(
            "policy_gateway_redis_unavailable",
            "Rate-limit and shared-admission decisions and token charges Redis could not make "
            "(unreachable, or its breaker open), by operation; what happened to the request is the fail "
            "mode's (fail_open counts the ones let through).",
            ["operation"],
            registry=r,
        )
        self.auth_failures = Counter(
            "policy_gateway_auth_failures",
            "Requests refused for their credentials (401, by code) or for too many such refusals "
            "from their address (429, `too_many_auth_failures`).",
            ["code"],
            registry=r,
        )
        self.connections_refused = Counter(
            "policy_gateway_connections_refused",
            "Connections closed by the server limits: header_timeout, body_timeout (408 or closed), "
            "header_too_large (431), too_many_connections (503).",
            ["listener", "reason"],
            registry=r,
        )
        self.tokens = Counter(
            "policy_gateway_tokens",
            "Tokens reported by the upstream, by model and direction (input/output).",
            ["model", "direction"],
            registry=r,
        )
        self.bundle_reloads = Counter(
            "policy_gateway_bundle_reloads",
            "Policy bundle reload attempts by result (loaded, rejected).",
            ["result"],
            registry=r,
        )
        self.bundle_loaded = Gauge(
            "policy_gateway_bundle_loaded_timestamp_seconds",
            "Unix time the current policy bundle was loaded.",
            registry=r,
        )

    def set_breaker_state(self, name: str, state: BreakerState) -> None:
        for s in BreakerState:
            self.breaker_state.labels(name, s.value).set(1.0 if s is state else 0.0)

    def breaker_listener(self) -> Callable[[StateChange], None]:
        def listener(change: StateChange) -> None:
            self.set_breaker_state(change.name, change.state)
            self.breaker_transitions.labels(change.name, change.previous.value, change.state.value).inc()

        return listener


def configure_tracing(
    service_name: str = "policy-gateway",
    exporter: Any | None = None,
) -> trace.TracerProvider:
    """The gateway's tracer provider: to `exporter` when given (tests), else as OTEL_* says
    (runtime/otlp.py: OTLP, console, or nothing recorded but what the caller samples)."""
    from runtime.otlp import tracer_provider

    return tracer_provider(service_name, exporter)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, with the current trace and span ids. Callers put only
    structured facts into `extra`; message text is a fixed phrase, never user content."""

    _SKIP = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            out["trace_id"] = format(ctx.trace_id, "032x")
            out["span_id"] = format(ctx.span_id, "016x")
        for key, value in record.__dict__.items():
            if key not in self._SKIP and not key.startswith("_"):
                out[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_type"] = record.exc_info[0].__name__
        return json.dumps(out, default=str, separators=(",", ":"))


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """JSON logs on stderr for the gateway's loggers (`policy_gateway.*`, `runtime.*`) and the
    server's (`uvicorn.*`), so every line of the process is one JSON object."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
