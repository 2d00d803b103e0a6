"""Hand-written compose files held against the port registry.

A registry host port bound by another service, a URL in a service's `environment` that reaches a
registry service on the wrong port, and a compose file that cannot be parsed (whose ports could
not be checked) are errors; `compose_scan: {unparsable: warn}` makes the last one a warning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from compiler import compose_scan
from compiler.compose_scan import EnvValue
from compiler.errors import Position, SpecError
from compiler.load import SourceMap
from compiler.model import SpecDocument
from compiler.model.services import ComposeScan
from compiler.ports import claims

# Variables the gateway, its clients and LiteLLM read, and the role of the service they must reach.
WELL_KNOWN_URLS = {"LLM_PROVIDER_URL": "llm-provider", "LLM_POLICY_GATEWAY_URL": "policy-gateway",
                   "REDIS_URL": "cache"}
# A URL to one of these reaches the host, hence a service's published (host) port.
HOST_NAMES = {"localhost", "127.0.0.1", "::1", "host.docker.internal"}
DEFAULT_PORTS = {"http": 80, "https": 443, "redis": 6379, "rediss": 6379}


@dataclass(frozen=True)
class _Registered:
    """One registry service as the environments define it (ports may differ per environment)."""

    name: str
    role: str
    host_ports: frozenset[int]
    container_ports: frozenset[int]
    host_port: int  # as the first environment has them, for messages
    container_port: int
    host_port_at: Position
    container_port_at: Position


def check(root: Path, registries: Sequence[tuple[SpecDocument, SourceMap]],
          settings: ComposeScan) -> Iterator[SpecError]:
    """`registries`: each environment's document and source map; messages name the first that
    defines a service."""
    found = compose_scan.scan(root)
    for problem in found.unreadable:
        yield _unreadable(problem, settings)
    yield from _foreign_ports(found.bindings, registries)
    services = _registered(registries)
    for entry in found.environment:
        yield from _url(entry, services)


def _unreadable(problem: SpecError, settings: ComposeScan) -> SpecError:
    if settings.unparsable == "warn":
        return dataclasses.replace(problem, severity="warning",
                                   message=f"compose file not checked (cannot be parsed): {problem.message}")
    return dataclasses.replace(
        problem, message=f"compose file cannot be parsed, so its ports and URLs go unchecked: {problem.message}",
        hint=f"{problem.hint}; or, for a file that is not yours to fix, set `compose_scan: {{unparsable: warn}}` "
             "in specs/")


def _foreign_ports(bindings: Sequence[compose_scan.Binding],
                   registries: Sequence[tuple[SpecDocument, SourceMap]]) -> Iterator[SpecError]:
    owners: dict[int, tuple[str, Position]] = {}
    for doc, smap in registries:
        for claim in claims(doc):
            owners.setdefault(claim.host_port, (claim.service, smap.locate(claim.path)))
    for binding in bindings:
        owner = owners.get(binding.host_port)
        if owner is not None and owner[0] != binding.service:
            yield SpecError(binding.where,
                            f'service "{binding.service}" binds host port {binding.host_port}, '
                            f'which the registry gives to "{owner[0]}" ({owner[1]})',
                            "change this port, or register the service in specs/ and use its port")


def _registered(registries: Sequence[tuple[SpecDocument, SourceMap]]) -> dict[str, _Registered]:
    out: dict[str, _Registered] = {}
    for doc, smap in registries:
        for name, svc in doc.services.items():
            if name in out:
                continue
            everywhere = [d.services[name] for d, _ in registries if name in d.services]
            base = ("services", name)
            out[name] = _Registered(
                name, svc.role,
                frozenset(s.port for s in everywhere), frozenset(s.container_port or s.port for s in everywhere),
                svc.port, svc.container_port or svc.port, smap.locate((*base, "port")),
                smap.locate((*base, "container_port" if svc.container_port else "port")))
    return out


def _url(entry: EnvValue, services: dict[str, _Registered]) -> Iterator[SpecError]:
    url = _parse(entry.value)
    if url is None:
        return
    host, port = url.hostname or "", url.port or DEFAULT_PORTS.get(url.scheme)
    role = WELL_KNOWN_URLS.get(entry.name)
    by_role = next((s for s in services.values() if s.role == role), None) if role else None
    where = f'environment {entry.name} of service "{entry.service}"'
    target = services.get(host)
    if target is not None:
        if by_role is not None and target is not by_role:
            yield SpecError(entry.where, f'{where} points at service "{host}", whose role is "{target.role}"',
                            f"{entry.name} must reach the {role} service: {_fixed(url, by_role.name, by_role)}")
        elif port is not None and port not in target.container_ports:
            yield SpecError(entry.where, f'{where} uses port {port} but service "{host}" listens on '
                            f"{target.container_port} ({target.container_port_at})", f"use {_fixed(url, host, target)}")
        return
    if by_role is None or port is None:
        return
    if host in HOST_NAMES:
        if port not in by_role.host_ports:
            yield SpecError(entry.where, f'{where} uses host port {port} but service "{by_role.name}" is published '
                            f"on {by_role.host_port} ({by_role.host_port_at})",
                            f"use {_fixed(url, host, by_role, on_host=True)}")
    elif url.port is not None and port not in by_role.host_ports | by_role.container_ports:
        yield SpecError(entry.where, f"{where} points at {host}:{port}, not at the registry's {role} "
                        f'(service "{by_role.name}" on {by_role.container_port}, {by_role.container_port_at})',
                        f"use {_fixed(url, by_role.name, by_role)}, or register this service in specs/", "warning")


def _parse(value: str) -> SplitResult | None:
    """The URL in an environment value; None for anything else, or one with ${...} in host or port."""
    if "://" not in value:
        return None
    url = urlsplit(value.strip())
    if not url.scheme or "$" in url.netloc:
        return None
    try:
        url.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return None
    return url


def _fixed(url: SplitResult, host: str, service: _Registered, *, on_host: bool = False) -> str:
    port = service.host_port if on_host else service.container_port
    host = f"[{host}]" if ":" in host else host
    return f"{url.scheme}://{host}:{port}{url.path}"
