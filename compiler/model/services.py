"""Services, their ports (the port registry) and routing between them."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator, model_validator

from compiler.model._base import EndpointName, FailMode, HttpUrl, Name, Port, StrictModel, UrlPath

Role = Literal["policy-gateway", "llm-provider", "policy-engine", "cache", "other"]


class HealthCheck(StrictModel):
    """How to tell the service is up: an HTTP path and/or a command run inside the container."""

    path: UrlPath | None = Field(None, description="HTTP health endpoint, e.g. /health")
    command: list[str] | None = Field(
        None, min_length=1, description="exec-form health command run in the container"
    )
    interval_s: int = Field(10, ge=1)
    timeout_s: int = Field(5, ge=1)
    retries: int = Field(5, ge=1)
    start_period_s: int = Field(10, ge=0)

    @model_validator(mode="after")
    def _path_or_command(self) -> HealthCheck:
        if self.path is None and self.command is None:
            raise ValueError("a health check needs a path or a command")
        return self


class ExtraPort(StrictModel):
    name: Name
    port: Port = Field(description="host port")
    container_port: Port | None = Field(None, description="defaults to port")


class Publish(StrictModel):
    """Which host interface the service's ports are published on (compose); Kubernetes ignores it."""

    enabled: bool | None = Field(
        None,
        description="publish the ports on the host; default: every service outside production, only the "
        "policy gateway in production (LiteLLM, OPA and Redis are then reachable through the gateway only)",
    )
    host_ip: str | None = Field(
        None,
        description="host address the ports bind to; default: 127.0.0.1 (the host only), and 0.0.0.0 for the "
        "policy gateway's client port in production",
    )

    @field_validator("host_ip")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address") from None
        return value


class Service(StrictModel):
    image: str = Field(min_length=1)
    role: Role = "other"
    port: Port = Field(description="host port, unique across the registry")
    container_port: Port | None = Field(None, description="port inside the container; defaults to port")
    extra_ports: list[ExtraPort] = Field(default_factory=list)
    health: HealthCheck | None = None
    depends_on: list[Name] = Field(default_factory=list)
    profiles: list[Name] = Field(default_factory=list, description="compose profiles")
    environment: dict[str, str] = Field(default_factory=dict)
    publish: Publish = Publish()


class Routing(StrictModel):
    policy_gateway_url: HttpUrl = "http://policy-gateway:8080/v1"
    llm_provider_url: HttpUrl = "http://llm-provider:8001/v1"
    fail_mode: FailMode = "closed"


class ComposeScan(StrictModel):
    """How validate treats the hand-written compose files elsewhere in the repository."""

    unparsable: Literal["error", "warn"] = Field(
        "error",
        description="a compose file that cannot be parsed: an error, or a warning for one that is not yours "
        "to fix (its ports and URLs then go unchecked)",
    )


class CircuitBreaker(StrictModel):
    failure_threshold: int = Field(5, ge=1)
    reset_timeout_s: float = Field(30.0, gt=0)


class RateLimit(StrictModel):
    requests_per_minute: int = Field(600, ge=1)
    # Per API key, across replicas (Redis); tokens reported by the upstream are charged after
    # each answer. None: no token budget.
    tokens_per_minute: int | None = Field(None, ge=1)
    redis_max_connections: int = Field(
        50, ge=1, description="Redis connections per replica; a request waits up to 0.5 s for a free one"
    )


class Server(StrictModel):
    """What one gateway replica's HTTP server accepts from its clients."""

    header_timeout_s: float = Field(
        10.0, gt=0, description="seconds to send a request's line and headers (then 408, or closed if nothing came)"
    )
    body_timeout_s: float = Field(30.0, gt=0, description="seconds to send the whole body after the headers (408)")
    keep_alive_timeout_s: float = Field(
        65.0, gt=0, description="seconds an idle connection stays open; above a load balancer's idle timeout"
    )
    max_header_bytes: int = Field(16_384, ge=1024, description="largest request line and headers (431)")
    max_connections: int = Field(1_000, ge=1, description="connections served at once (more: 503)")
    auth_failures_per_minute: int = Field(
        20, ge=1, description="failed authentications per client address before 429 (per replica)"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or CIDRs of proxies in front of the gateway: their X-Forwarded-For names the client",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR") from None
        return value


class Gateway(StrictModel):
    """Runtime knobs of the policy gateway compiled into gateway.json."""

    circuit_breaker: CircuitBreaker = CircuitBreaker()
    rate_limit: RateLimit = RateLimit()
    max_body_bytes: int = Field(1_048_576, ge=1024)
    max_answer_bytes: int = Field(
        16_777_216, ge=1024, description="the largest answer (or stream event) the gateway reads from LiteLLM"
    )
    endpoints: list[EndpointName] | None = Field(
        None,
        min_length=1,
        description="the endpoints the gateway exposes (any other answers 404); default: every endpoint the "
        "environment's models serve, mcp with mcp_servers, a2a with agents, files and batches with a model "
        "that can run in a batch",
    )
    server: Server = Server()
