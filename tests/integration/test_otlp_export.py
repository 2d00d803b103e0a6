"""The whole stack exports to one real OTLP receiver (Jaeger v2, otlp_receiver.py), configured only
by what `gatewayctl compile` emits for an environment's `observability`: a request through the
gateway and a real LiteLLM proxy (fake provider) leaves gateway spans and LiteLLM spans in one
trace, the gateway's logs carry that trace id, its metrics arrive, the breaker's state change
arrives as an event, and no prompt text reaches the receiver. Once per OTLP protocol."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from gateway_stack import (
    FakeProviderProcess,
    Gateway,
    LiteLLMProxy,
    RedisServer,
    compile_project,
    free_port,
    gateway_environ,
    launch_gateway,
    litellm_test_config,
)
from otlp_receiver import JAEGER_VERSION, Jaeger, jaeger_binary
from ruamel.yaml import YAML

pytestmark = pytest.mark.integration

# Test knobs the OpenTelemetry SDK reads (in the gateway and in LiteLLM): export within a
# fraction of a second instead of every 5 s (spans, logs) and 60 s (metrics).
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_BLRP_SCHEDULE_DELAY": "200",
               "OTEL_METRIC_EXPORT_INTERVAL": "500"}


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    if not jaeger_binary().exists():
        pytest.skip(f"no OTLP receiver: {jaeger_binary()} is absent (scripts/setup builds Jaeger {JAEGER_VERSION} "
                    "with Go; without Go it cannot)")
    receiver = Jaeger(tmp_path_factory.mktemp("jaeger")).start()
    yield receiver
    receiver.stop()


@dataclass
class Stack:
    protocol: str
    generated: Path
    gateway_otel: dict[str, str]  # the OTEL_* the compiler emitted for the gateway
    gateway: Gateway
    proxy: LiteLLMProxy


def _otel_environment(compose: dict[str, Any], service: str) -> dict[str, str]:
    environment = compose["services"][service]["environment"]
    return {k: str(v) for k, v in environment.items() if k.startswith("OTEL_")}


@pytest.fixture(scope="module", params=["http/protobuf", "grpc"])
def stack(
    request: pytest.FixtureRequest,
    jaeger: Jaeger,
    fake_provider: FakeProviderProcess,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    protocol = request.param

    def collector(specs: dict[str, Any]) -> None:
        specs["gateway"]["environments"]["staging"]["observability"] = {
            "otlp_endpoint": jaeger.endpoint(protocol), "protocol": protocol}

    tmp = tmp_path_factory.mktemp("otlp")
    generated = compile_project(tmp, fake_provider.base_url, edit=collector)
    compose = YAML(typ="safe").load((generated / "staging" / "docker-compose.yml").read_text())
    gateway_otel = _otel_environment(compose, "policy-gateway")
    proxy_otel = _otel_environment(compose, "llm-provider")
    assert gateway_otel["OTEL_EXPORTER_OTLP_ENDPOINT"] == proxy_otel["OTEL_EXPORTER_OTLP_ENDPOINT"] \
        == jaeger.endpoint(protocol)
    emitted = YAML(typ="safe").load((generated / "staging" / "litellm" / "config.yaml").read_text())
    assert "otel" in emitted["litellm_settings"]["callbacks"]

    config = litellm_test_config(generated, "staging", fake_provider.base_url)
    proxy = LiteLLMProxy(config, tmp / "litellm.log", env=proxy_otel | FAST_EXPORT).start()
    gateway = launch_gateway(generated, "staging",
                             gateway_environ(proxy.url, redis_server.url, **gateway_otel, **FAST_EXPORT),
                             tmp / "gateway.log")
    yield Stack(protocol, generated, gateway_otel, gateway, proxy)
    gateway.stop()
    proxy.stop()


@dataclass(frozen=True)
class TracedRequest:
    trace_id: str
    caller_span_id: str
    prompt_word: str  # in the prompt only: it must reach no span, log or metric


@pytest.fixture(scope="module")
def traced(stack: Stack) -> TracedRequest:
    """One chat request through the gateway, in a trace the caller started (W3C traceparent)."""
    request = TracedRequest(secrets.token_hex(16), secrets.token_hex(8), f"zebra{secrets.token_hex(6)}")
    answer = stack.gateway.chat(f"Please remember the word {request.prompt_word}.",
                                headers={"traceparent": f"00-{request.trace_id}-{request.caller_span_id}-01"})
    assert answer.status_code == 200, answer.text
    return request


def _spans_by_service(trace: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    services = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    out: dict[str, list[dict[str, Any]]] = {}
    for span in trace["spans"]:
        out.setdefault(services[span["processID"]], []).append(span)
    return out


def _parent(span: dict[str, Any]) -> str | None:
    return next((r["spanID"] for r in span.get("references", []) if r["refType"] == "CHILD_OF"), None)


def test_litellm_spans_join_the_gateway_trace(stack: Stack, jaeger: Jaeger, traced: TracedRequest) -> None:
    gateway_operations = frozenset({"POST /v1/chat/completions", "policy prompt", "policy output", "chat chat-default"})
    trace = jaeger.trace(traced.trace_id, {"policy-gateway", "litellm"}, gateway_operations,
                         roots=frozenset({traced.caller_span_id}))
    spans = _spans_by_service(trace)
    gateway = {s["operationName"]: s for s in spans["policy-gateway"]}
    assert gateway_operations <= set(gateway)
    assert _parent(gateway["POST /v1/chat/completions"]) == traced.caller_span_id
    # LiteLLM's outermost span hangs under the gateway's upstream call: one trace, not two.
    litellm_ids = {s["spanID"] for s in spans["litellm"]}
    litellm_roots = [s for s in spans["litellm"] if _parent(s) not in litellm_ids]
    assert litellm_roots, spans["litellm"]
    assert {_parent(s) for s in litellm_roots} == {gateway["chat chat-default"]["spanID"]}
    gateway_process = next(p for p in trace["processes"].values() if p["serviceName"] == "policy-gateway")
    assert {"key": "deployment.environment", "type": "string", "value": "staging"} in gateway_process["tags"]
    assert traced.prompt_word not in str(trace)  # neither the gateway's spans nor LiteLLM's hold the prompt


def test_gateway_logs_arrive_with_the_trace_id_and_no_prompt(stack: Stack, jaeger: Jaeger,
                                                             traced: TracedRequest) -> None:
    access = jaeger.log_records(lambda r: f"Trace ID: {traced.trace_id}" in r and "Str(request)" in r)
    assert len(access) == 1, access
    record = access[0]
    assert "-> logger: Str(policy_gateway.access)" in record
    assert "-> route: Str(/v1/chat/completions)" in record
    assert "-> status: Int(200)" in record
    assert "Span ID: 0000000000000000" not in record  # the request span's id, not none
    jaeger.trace(traced.trace_id, {"policy-gateway"})
    assert traced.prompt_word not in jaeger.log.read_text()  # no log record, span or metric holds it


def test_gateway_metrics_arrive(stack: Stack, jaeger: Jaeger, traced: TracedRequest) -> None:
    """The Prometheus metrics of SDS-030, pushed over OTLP under the same names."""
    deadline = time.monotonic() + 30
    requests: list[str] = []
    while time.monotonic() < deadline and not requests:
        text = jaeger.metrics()
        requests = [line for line in text.splitlines() if line.startswith("policy_gateway_requests_total{")
                    and 'route="chat"' in line and 'status="200"' in line]
        time.sleep(0.2)
    assert requests, [line for line in text.splitlines() if "requests" in line]
    assert 'job="policy-gateway"' in requests[0]
    assert "\npolicy_gateway_request_duration_seconds_bucket{" in text
    assert "_total_total" not in text and "_bucket_total" not in text


def test_breaker_event_arrives_and_exit_flushes_the_batches(stack: Stack, jaeger: Jaeger,
                                                            redis_server: RedisServer, tmp_path: Path) -> None:
    """A gateway whose upstream is gone opens its breaker at the first failure. Its batches would
    wait ten minutes; stopping it (SIGTERM) must send them before the process ends."""
    dead_upstream = f"http://127.0.0.1:{free_port()}"
    slow_batches = {"OTEL_BSP_SCHEDULE_DELAY": "600000", "OTEL_BLRP_SCHEDULE_DELAY": "600000"}
    gateway = launch_gateway(stack.generated, "staging",
                             gateway_environ(dead_upstream, redis_server.url, POLICY_GATEWAY_CB_FAILURE_THRESHOLD="1",
                                             **stack.gateway_otel, **slow_batches),
                             tmp_path / "gateway.log")
    trace_id = secrets.token_hex(16)
    try:
        answer = gateway.chat(headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})
        assert answer.status_code in (502, 503), answer.text
    finally:
        gateway.stop()
    assert gateway.process.returncode == 0, gateway.log.read_text()[-2000:]
    events = jaeger.log_records(lambda r: "policy_gateway.circuit_breaker.state_change" in r
                                and f"Trace ID: {trace_id}" in r, timeout_s=10)
    assert "-> state: Str(open)" in events[0]
    assert "-> previous_state: Str(closed)" in events[0]
    assert "-> breaker: Str(llm-provider)" in events[0]
    assert "SeverityNumber: Warn(13)" in events[0]
    jaeger.trace(trace_id, {"policy-gateway"}, timeout_s=10)


def test_an_unknown_otlp_protocol_refuses_the_start(compiled_project: Path, redis_server: RedisServer,
                                                    tmp_path: Path) -> None:
    """A typo in the telemetry settings is one line before binding, not a traceback (no receiver needed)."""
    environ = gateway_environ(f"http://127.0.0.1:{free_port()}", redis_server.url, OTEL_TRACES_EXPORTER="otlp",
                              OTEL_EXPORTER_OTLP_PROTOCOL="http")
    gateway = launch_gateway(compiled_project, "staging", environ, tmp_path / "gateway.log", wait=False)
    assert gateway.process.wait(timeout=60) == 1
    log = gateway.log.read_text()
    assert "gatewayctl serve: refusing to start: OpenTelemetry settings: Unsupported OTLP protocol 'http'" in log
    assert "Traceback" not in log
