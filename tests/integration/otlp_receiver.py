"""A real OTLP receiver for the integration suite: Jaeger v2 (the OpenTelemetry Collector with
Jaeger's storage and query service), built from its Go module by scripts/setup into .tools/bin.

One process, its own free 127.0.0.1 ports, stopped by its pid:
  - OTLP over gRPC and over HTTP (the receiver both protocols of `observability.protocol` reach);
  - traces kept in memory and answered by Jaeger's query API (`/api/traces/<id>`);
  - logs written by the collector's `debug` exporter (verbosity detailed) into its own log file,
    record by record with trace id, span id, event name, body and attributes;
  - metrics served by the collector's `prometheus` exporter (`/metrics`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from gateway_stack import REPO, free_port, spawn, stop_process, wait_http

JAEGER_VERSION = "v1.76.0"  # scripts/setup builds this one


def jaeger_binary() -> Path:
    """$JAEGER_BINARY, else .tools/bin/jaeger (which may not exist: see scripts/setup)."""
    return Path(os.environ.get("JAEGER_BINARY") or REPO / ".tools" / "bin" / "jaeger")


_CONFIG = """\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces: {{receivers: [otlp], exporters: [jaeger_storage_exporter]}}
    logs: {{receivers: [otlp], exporters: [debug]}}
    metrics: {{receivers: [otlp], exporters: [prometheus]}}
  telemetry:
    metrics: {{level: none}}
    logs: {{level: info}}
extensions:
  jaeger_storage:
    backends:
      memstore: {{memory: {{max_traces: 10000}}}}
  jaeger_query:
    storage: {{traces: memstore}}
    http: {{endpoint: "127.0.0.1:{query}"}}
    grpc: {{endpoint: "127.0.0.1:{query_grpc}"}}
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http}"}}
exporters:
  jaeger_storage_exporter: {{trace_storage: memstore}}
  debug: {{verbosity: detailed}}
  prometheus: {{endpoint: "127.0.0.1:{prometheus}"}}
"""


@dataclass
class Jaeger:
    workdir: Path
    grpc_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    query_port: int = field(default_factory=free_port)
    prometheus_port: int = field(default_factory=free_port)
    process: Any = None

    @property
    def log(self) -> Path:
        return self.workdir / "jaeger.log"

    def endpoint(self, protocol: str) -> str:
        """The base URL a spec's `observability.otlp_endpoint` names for `protocol`."""
        return f"http://127.0.0.1:{self.grpc_port if protocol == 'grpc' else self.http_port}"

    def start(self) -> Jaeger:
        config = self.workdir / "jaeger.yaml"
        config.write_text(_CONFIG.format(query=self.query_port, query_grpc=free_port(), grpc=self.grpc_port,
                                         http=self.http_port, prometheus=self.prometheus_port))
        self.process = spawn([str(jaeger_binary()), "--config", str(config)], self.log)
        wait_http(f"http://127.0.0.1:{self.query_port}/api/services", self.process, self.log, timeout_s=60)
        return self

    def stop(self) -> None:
        stop_process(self.process)

    def trace(self, trace_id: str, services: set[str], operations: frozenset[str] = frozenset(),
              timeout_s: float = 30, roots: frozenset[str] | None = None) -> dict[str, Any]:
        """The trace as Jaeger's query API answers it, once spans of all `services` and spans of
        all `operations` are in (processes export in batches, each on its own schedule) and, with
        `roots` (the span ids outside the trace its spans may hang under), once every span's parent
        is in too: a process's inner spans can arrive before its outer one."""
        deadline = time.monotonic() + timeout_s
        seen: set[str] = set()
        while time.monotonic() < deadline:
            answer = httpx.get(f"http://127.0.0.1:{self.query_port}/api/traces/{trace_id}", timeout=5)
            if answer.status_code == 200 and answer.json().get("data"):
                trace: dict[str, Any] = answer.json()["data"][0]
                seen = {p["serviceName"] for p in trace["processes"].values()}
                seen |= {s["operationName"] for s in trace["spans"]}
                ids = {span["spanID"] for span in trace["spans"]} | (roots or set())
                parents = {r["spanID"] for span in trace["spans"] for r in span.get("references", [])
                           if r["refType"] == "CHILD_OF"}
                if services | operations <= seen and (roots is None or parents <= ids):
                    return trace
            time.sleep(0.2)
        raise AssertionError(f"trace {trace_id}: {sorted(seen)} after {timeout_s} s, "
                             f"want {sorted(services | operations)}")

    def log_records(self, predicate: Any, timeout_s: float = 30) -> list[str]:
        """The log records the debug exporter printed (one text block each) that satisfy `predicate`,
        waiting until there is at least one."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [r for r in self.all_log_records() if predicate(r)]
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"no such log record after {timeout_s} s:\n{self.log.read_text()[-3000:]}")

    def all_log_records(self) -> list[str]:
        return ["LogRecord #" + block for block in self.log.read_text().split("LogRecord #")[1:]]

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.prometheus_port}/metrics", timeout=5).text
