"""Rules for an environment's `observability` that its types cannot say, and the one place that
reads an os.environ/NAME header reference.

Decided here: a production environment without a collector is a warning, not an error. Its
gateway still logs JSON to stderr and serves /metrics, so nothing is lost that a log shipper or a
Prometheus scrape cannot pick up; an error would refuse specs that are safe.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from compiler.errors import SpecError
from compiler.load import SourceMap
from compiler.model.environments import Environment
from compiler.model.observability import Observability

ENV_REF_RE = re.compile(r"^os\.environ/([A-Z][A-Z0-9_]*)$")
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
# The ports IANA gave OTLP; a protocol sent to the other one's port fails at the first export.
OTLP_PORTS = {"grpc": 4317, "http/protobuf": 4318}
_EXAMPLE = {"grpc": "http://otel-collector:4317", "http/protobuf": "http://otel-collector:4318"}


def header_env(value: str) -> str:
    """NAME of an `os.environ/NAME` header value (check() refused any other)."""
    return value.removeprefix("os.environ/")


def missing_in_production(env_name: str, spec: Environment, smap: SourceMap) -> Iterator[SpecError]:
    """The warning for a production environment that names no collector."""
    if spec.observability is None and spec.sea_env == "production":
        yield SpecError(
            smap.locate(("environments", env_name), key=True),
            f'production environment "{env_name}" exports no telemetry to a collector',
            "add `observability: {otlp_endpoint: http://otel-collector:4318}` so the gateway's and "
            "LiteLLM's traces, metrics and logs reach one (docs/specs/SDS-030-observability.md)",
            "warning",
        )


def check(env_name: str, spec: Environment, smap: SourceMap) -> Iterator[SpecError]:
    base = ("environments", env_name)
    obs = spec.observability
    if obs is None:
        return
    yield from _endpoint(obs, smap, (*base, "observability", "otlp_endpoint"))
    for name, value in obs.headers.items():
        where = (*base, "observability", "headers", name)
        dotted = f"environments.{env_name}.observability.headers"
        if not HEADER_NAME_RE.match(name):
            yield SpecError(smap.locate(where, key=True), f"{dotted}: {name!r} is not an HTTP header name",
                            "use letters, digits and '-', e.g. authorization or x-honeycomb-team")
        if not ENV_REF_RE.match(value):
            yield SpecError(smap.locate(where), f"{dotted}.{name} holds a literal value",
                            f"collector tokens are secrets: write os.environ/{_env_name(name)} and set "
                            f"{_env_name(name)} where the services run (.env, the Kubernetes Secret)")


def _endpoint(obs: Observability, smap: SourceMap, path: tuple[str, ...]) -> Iterator[SpecError]:
    where, field = smap.locate(path), ".".join(path)
    example = _EXAMPLE[obs.protocol]
    try:
        url = urlsplit(obs.otlp_endpoint)
        port = url.port
    except ValueError:
        url, port = urlsplit(""), None
    if url.scheme not in ("http", "https") or not url.hostname:
        yield SpecError(where, f"{field}: {obs.otlp_endpoint!r} is not an http(s) URL",
                        f"write the collector's base URL, e.g. {example}")
        return
    if url.username or url.password:
        yield SpecError(where, f"{field} has credentials in its URL",
                        "put the token in a header: `headers: {authorization: os.environ/OTLP_TOKEN}`")
    if url.path not in ("", "/") or url.query or url.fragment:
        yield SpecError(where, f"{field} has a path ({url.path or url.query})",
                        f"give the base URL ({url.scheme}://{url.netloc}): the exporters add /v1/traces, "
                        "/v1/metrics and /v1/logs themselves")
    other = next(p for p, n in OTLP_PORTS.items() if p != obs.protocol)
    if port == OTLP_PORTS[other]:
        yield SpecError(where, f"{field} uses port {port}, OTLP {other}'s port, "
                        f"with protocol {obs.protocol}",
                        f"use port {OTLP_PORTS[obs.protocol]} or `protocol: {other}`", "warning")


def _env_name(header: str) -> str:
    return "OTLP_" + re.sub(r"[^A-Z0-9]+", "_", header.upper()).strip("_")
