"""The breaker's OpenTelemetry event, its Prometheus gauge and counter, and the JSON log line."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from prometheus_client import generate_latest

from runtime.breaker import BreakerState, CircuitBreaker
from runtime.telemetry import (
    BREAKER_EVENT,
    GatewayMetrics,
    JsonLogFormatter,
    breaker_event_listener,
)


def test_breaker_transitions_emit_the_otel_event_with_state_count_and_timestamp() -> None:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    now = [0.0]
    breaker = CircuitBreaker(
        "llm-provider",
        2,
        10.0,
        clock=lambda: now[0],
        wall_clock=lambda: 1_750_000_000.5,
        listeners=[breaker_event_listener(provider)],
    )
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    now[0] = 10.0
    breaker.before_call()
    breaker.record_success()

    records = [r.log_record for r in exporter.get_finished_logs()]
    assert [r.event_name for r in records] == [BREAKER_EVENT] * 3
    assert [r.attributes["state"] for r in records] == ["open", "half_open", "closed"]
    first = records[0].attributes
    assert first["failure_count"] == 2
    assert first["timestamp"] == 1_750_000_000.5
    assert first["previous_state"] == "closed"
    provider.shutdown()


def test_breaker_metrics_track_the_state_gauge_and_count_transitions() -> None:
    metrics = GatewayMetrics()
    metrics.set_breaker_state("llm-provider", BreakerState.CLOSED)
    breaker = CircuitBreaker("llm-provider", 1, 5.0, listeners=[metrics.breaker_listener()])
    breaker.before_call()
    breaker.record_failure()
    text = generate_latest(metrics.registry).decode()
    assert 'policy_gateway_circuit_breaker_state{breaker="llm-provider",state="open"} 1.0' in text
    assert 'policy_gateway_circuit_breaker_state{breaker="llm-provider",state="closed"} 0.0' in text
    assert (
        'policy_gateway_circuit_breaker_transitions_total{breaker="llm-provider",'
        'from_state="closed",to_state="open"} 1.0'
    ) in text


def test_two_metric_sets_do_not_collide() -> None:
    GatewayMetrics()
    GatewayMetrics()


def test_json_log_lines_carry_structured_extras_only() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("policy_gateway.test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("request blocked", extra={"policy": "prompt", "categories": ["pii"]})
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["msg"] == "request blocked"
    assert line["policy"] == "prompt"
    assert line["categories"] == ["pii"]
    assert line["level"] == "warning"


def test_without_an_exporter_spans_are_recorded_only_for_sampled_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry import context, trace
    from opentelemetry.propagate import extract

    from runtime.telemetry import configure_tracing

    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    tracer = configure_tracing().get_tracer("t")
    with tracer.start_as_current_span("root") as root:
        assert not root.is_recording()
        assert root.get_span_context().is_valid  # ids still exist for traceparent and logs
    parent = extract({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    token = context.attach(parent)
    try:
        with tracer.start_as_current_span("child") as child:
            assert child.is_recording()
            assert trace.get_current_span().get_span_context().trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    finally:
        context.detach(token)
