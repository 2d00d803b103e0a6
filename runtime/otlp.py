"""OTLP export of the gateway's traces, metrics and logs, configured by the standard OTEL_*
variables alone (the compiler writes them from the environment's `observability`).

The SDK's own configuration code reads them: which exporters (OTEL_{TRACES,METRICS,LOGS}_EXPORTER,
with OTEL_EXPORTER_OTLP_PROTOCOL choosing gRPC or HTTP for `otlp`), the endpoint, headers, timeouts
and TLS (read by the exporters), the sampler (OTEL_TRACES_SAMPLER/_ARG, read by the provider),
the resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) and the batch sizes (OTEL_BSP_*,
OTEL_BLRP_*, OTEL_METRIC_EXPORT_INTERVAL). Only the wiring is ours: the gateway keeps its own
providers (several apps may share a test process), its Prometheus metrics are the metrics it
pushes, and its log lines become log records that keep the trace and span ids.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from opentelemetry import _logs
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk._configuration import _get_exporter_names, _import_exporters
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler
from prometheus_client import CollectorRegistry

__all__ = ["OtlpLogHandler", "Telemetry", "configure_telemetry", "exporter_names"]

Signal = Literal["traces", "metrics", "logs"]


def exporter_names(signal: Signal) -> list[str]:
    """The exporters OTEL_<SIGNAL>_EXPORTER names, as the SDK resolves them (`otlp` becomes
    otlp_proto_grpc or otlp_proto_http by OTEL_EXPORTER_OTLP_PROTOCOL); [] for none."""
    return _get_exporter_names(signal)


def resource(service_name: str) -> Resource:
    """OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, else `service_name`."""
    from_env = OTELResourceDetector().detect()
    return Resource.create({} if SERVICE_NAME in from_env.attributes else {SERVICE_NAME: service_name})


def tracer_provider(service_name: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Spans always get real ids (for logs and the `traceparent` sent upstream). They are exported
    to `exporter` (tests: span by span) or in batches to OTEL_TRACES_EXPORTER's exporters. With no exporter at all
    nobody can read them, so unless OTEL_TRACES_SAMPLER says otherwise they are recorded only when
    the caller's trace is sampled (parent-based, off at the root): the CPU of recording spans for
    nobody is saved (docs/benchmarks.md)."""
    processors: list[SpanProcessor] = [SimpleSpanProcessor(exporter)] if exporter is not None else []
    if exporter is None:
        traces, _, _ = _import_exporters(exporter_names("traces"), [], [])
        # Console output goes to stderr with the logs: stdout is not the gateway's to fill.
        processors = [BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr) if cls is ConsoleSpanExporter
                                         else cls()) for cls in traces.values()]
    sampler: Sampler | None = None  # the SDK's default, or OTEL_TRACES_SAMPLER
    if not processors and "OTEL_TRACES_SAMPLER" not in os.environ:
        sampler = ParentBased(ALWAYS_OFF)
    provider = TracerProvider(resource=resource(service_name), sampler=sampler)
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


@dataclass
class Telemetry:
    """The gateway's providers; `shutdown` flushes what the batch processors still hold."""

    tracer_provider: TracerProvider
    logger_provider: LoggerProvider | None = None  # None: OTEL_LOGS_EXPORTER names no exporter
    meter_provider: MeterProvider | None = None  # None: OTEL_METRICS_EXPORTER names no exporter
    _handlers: list[tuple[logging.Logger, logging.Handler]] = field(default_factory=list)

    def export_logs_of(self, logger_names: Iterable[str]) -> None:
        """Send these loggers' records to the collector too (their JSON lines stay on stderr)."""
        if self.logger_provider is None:
            return
        handler = OtlpLogHandler(self.logger_provider)
        for name in logger_names:
            logger = logging.getLogger(name)
            logger.addHandler(handler)
            self._handlers.append((logger, handler))

    def shutdown(self) -> None:
        for logger, handler in self._handlers:
            logger.removeHandler(handler)
        self._handlers.clear()
        self.tracer_provider.shutdown()
        if self.logger_provider is not None:
            self.logger_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def configure_telemetry(service_name: str, metrics: CollectorRegistry | None = None) -> Telemetry:
    """Providers from the OTEL_* variables. The logger provider becomes the global one, so the
    gateway's events (telemetry.emit_event, which uses the logs API) are exported with it."""
    _, metric_classes, log_classes = _import_exporters([], exporter_names("metrics"), exporter_names("logs"))
    telemetry = Telemetry(tracer_provider(service_name))
    if log_classes:
        logs = LoggerProvider(resource=resource(service_name))
        for cls in log_classes.values():
            logs.add_log_record_processor(BatchLogRecordProcessor(cls()))
        _logs.set_logger_provider(logs)
        telemetry.logger_provider = logs
    if metric_classes and metrics is not None:
        readers = [PeriodicExportingMetricReader(cls()) for cls in metric_classes.values()]  # type: ignore[arg-type]
        meters = MeterProvider(resource=resource(service_name), metric_readers=readers)
        observe_registry(metrics, meters.get_meter("policy_gateway"))
        telemetry.meter_provider = meters
    return telemetry


def observe_registry(registry: CollectorRegistry, meter: Meter) -> None:
    """The Prometheus metrics of SDS-030 as OpenTelemetry instruments read at each export, so the
    collector receives what /metrics shows. A counter keeps its name without `_total` (OTel's
    convention: a Prometheus exporter adds it back); a histogram's _bucket (`le` a label), _count
    and _sum series become gauges of their cumulative values, the SDK having no observable
    histogram."""
    for family in registry.collect():
        if family.type == "counter":
            meter.create_observable_counter(family.name, [_reader(registry, family.name + "_total")],
                                            description=family.documentation)
            continue
        series = [family.name] if family.type == "gauge" else [family.name + s for s in ("_bucket", "_count", "_sum")]
        for name in series:
            meter.create_observable_gauge(name, [_reader(registry, name)], description=family.documentation)


def _reader(registry: CollectorRegistry, sample_name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(_: CallbackOptions) -> Iterable[Observation]:
        return [Observation(s.value, dict(s.labels)) for family in registry.collect()
                for s in family.samples if s.name == sample_name]

    return observe


_SEVERITY = {
    logging.DEBUG: _logs.SeverityNumber.DEBUG,
    logging.INFO: _logs.SeverityNumber.INFO,
    logging.WARNING: _logs.SeverityNumber.WARN,
    logging.ERROR: _logs.SeverityNumber.ERROR,
    logging.CRITICAL: _logs.SeverityNumber.FATAL,
}
_RECORD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class OtlpLogHandler(logging.Handler):
    """A log line as an OpenTelemetry log record: the fixed phrase as body, the structured fields
    as attributes, in the current context (so it carries the trace and span ids). Records of
    events are skipped: telemetry.emit_event exports those itself, as events."""

    def __init__(self, provider: LoggerProvider) -> None:
        super().__init__()
        self._provider = provider

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "event"):
            return
        attributes: dict[str, Any] = {"logger": record.name}
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_") and value is not None:
                attributes[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            attributes["exception.type"] = record.exc_info[0].__name__
        self._provider.get_logger(record.name).emit(
            body=record.getMessage(),
            severity_number=_SEVERITY.get(record.levelno, _logs.SeverityNumber.INFO),
            severity_text=record.levelname,
            attributes=attributes,
        )
