"""runtime/otlp.py: which exporters the OTEL_* variables select, log lines as OpenTelemetry log
records (with the span's ids, without event duplicates), the Prometheus metrics as OpenTelemetry
instruments, and the sampler read from the environment. The export itself to a real receiver is
tests/integration/test_otlp_export.py."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from runtime.breaker import BreakerState
from runtime.otlp import Telemetry, exporter_names, observe_registry, tracer_provider
from runtime.telemetry import GatewayMetrics


@pytest.mark.parametrize(("protocol", "expected"), [("grpc", "otlp_proto_grpc"), ("http/protobuf", "otlp_proto_http")])
def test_otlp_exporter_follows_the_protocol(monkeypatch: pytest.MonkeyPatch, protocol: str, expected: str) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    for signal in ("TRACES", "METRICS", "LOGS"):
        monkeypatch.setenv(f"OTEL_{signal}_EXPORTER", "otlp")
    assert exporter_names("traces") == exporter_names("metrics") == exporter_names("logs") == [expected]
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
    assert exporter_names("logs") == []


@pytest.mark.parametrize(("ratio", "recorded"), [("0", False), ("1", True)])
def test_the_sampler_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, ratio: str, recorded: bool) -> None:
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", ratio)
    with tracer_provider("policy-gateway").get_tracer("t").start_as_current_span("root") as root:
        assert root.is_recording() is recorded


def test_the_service_name_of_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "gateway-eu")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod")
    attributes = tracer_provider("policy-gateway").resource.attributes
    assert attributes["service.name"] == "gateway-eu"
    assert attributes["deployment.environment"] == "prod"
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    assert tracer_provider("policy-gateway").resource.attributes["service.name"] == "policy-gateway"


def test_log_lines_become_records_in_the_current_span(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    exported = InMemoryLogRecordExporter()
    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(exported))
    telemetry = Telemetry(tracer_provider("policy-gateway"), logger_provider=logs)
    telemetry.export_logs_of(["policy_gateway.test_otlp"])
    log = logging.getLogger("policy_gateway.test_otlp")
    log.setLevel(logging.INFO)
    with telemetry.tracer_provider.get_tracer("t").start_as_current_span("request") as span:
        log.warning("request", extra={"route": "/v1/chat/completions", "status": 429, "categories": ["pii"],
                                      "model": None})
        log.info("policy_gateway.fail_open", extra={"event": "policy_gateway.fail_open", "attributes": {}})
    telemetry.shutdown()
    log.info("after shutdown")

    records = [r.log_record for r in exported.get_finished_logs()]
    assert len(records) == 1  # the event line is skipped (emit_event exports events), nothing after shutdown
    record = records[0]
    assert record.body == "request"
    assert record.severity_text == "WARNING"
    assert dict(record.attributes or {}) == {"logger": "policy_gateway.test_otlp", "route": "/v1/chat/completions",
                                             "status": 429, "categories": "['pii']"}
    assert record.trace_id == span.get_span_context().trace_id
    assert record.span_id == span.get_span_context().span_id


def test_the_prometheus_metrics_are_observed_under_their_names() -> None:
    metrics = GatewayMetrics()
    metrics.requests.labels("/v1/chat/completions", "200").inc(3)
    metrics.request_duration.labels("/v1/chat/completions").observe(0.004)
    metrics.set_breaker_state("llm-provider", BreakerState.OPEN)
    reader = InMemoryMetricReader()
    observe_registry(metrics.registry, MeterProvider(metric_readers=[reader]).get_meter("policy_gateway"))

    data = reader.get_metrics_data()
    assert data is not None
    points = {m.name: list(m.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics
              for m in sm.metrics}
    [requests] = points["policy_gateway_requests"]  # a Prometheus exporter adds `_total` back
    assert (requests.value, dict(requests.attributes or {})) == (3, {"route": "/v1/chat/completions", "status": "200"})
    assert [p.value for p in points["policy_gateway_request_duration_seconds_count"]] == [1]
    buckets = {dict(p.attributes or {})["le"]: p.value
               for p in points["policy_gateway_request_duration_seconds_bucket"]}
    assert (buckets["0.002"], buckets["0.005"], buckets["+Inf"]) == (0, 1, 1)
    states = {dict(p.attributes or {})["state"]: p.value for p in points["policy_gateway_circuit_breaker_state"]
              if dict(p.attributes or {})["breaker"] == "llm-provider"}
    assert states == {"open": 1, "closed": 0, "half_open": 0}
