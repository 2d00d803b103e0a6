"""Where an environment's telemetry goes: one OTLP collector for the gateway and the LiteLLM proxy.

Values are checked beyond their types in compiler/observability.py (the endpoint's shape, header
values as os.environ/NAME references, a protocol on the other protocol's port).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from compiler.model._base import StrictModel

Signal = Literal["traces", "metrics", "logs"]
OtlpProtocol = Literal["grpc", "http/protobuf"]
SIGNALS: tuple[Signal, ...] = ("traces", "metrics", "logs")


class ServiceNames(StrictModel):
    gateway: str = Field("policy-gateway", min_length=1, description="service.name of the policy gateway")
    litellm: str = Field("litellm", min_length=1, description="service.name of the LiteLLM proxy")


class Observability(StrictModel):
    otlp_endpoint: str = Field(
        description="the collector's base URL, e.g. http://otel-collector:4317 (gRPC) or :4318 "
        "(HTTP); no path: the exporters add /v1/traces, /v1/metrics and /v1/logs",
    )
    protocol: OtlpProtocol = Field(
        "http/protobuf", description="OTLP transport: http/protobuf (port 4318, the OTel default) or grpc (4317)",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="headers sent with every export, each value an os.environ/NAME reference "
        "(collector tokens are secrets)",
    )
    service_names: ServiceNames = ServiceNames()
    sampling_ratio: float = Field(
        1.0, ge=0, le=1,
        description="share of new traces recorded (parent-based: a caller's sampled trace is always "
        "followed); 1 records every trace",
    )
    signals: list[Signal] = Field(
        default_factory=lambda: list(SIGNALS), min_length=1,
        description="what the gateway exports: traces, metrics, logs",
    )
    litellm_callback: bool = Field(
        True, description="turn on LiteLLM's `otel` callback so the proxy's spans join the gateway's traces",
    )
