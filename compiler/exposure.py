"""What a service exposes outside its compose project: which ports are published, on which host address.

One home for the rule, read by validate (a production environment must not expose LiteLLM, OPA or
Redis) and by the compose emitter.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from compiler.model.services import Service

LOOPBACK = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"
# The roles no client may reach except through the gateway.
BEHIND_GATEWAY = frozenset({"llm-provider", "policy-engine", "cache"})


@dataclass(frozen=True)
class Published:
    host_ip: str
    host_port: int
    container_port: int


def published(svc: Service, production: bool) -> tuple[Published, ...]:
    """The ports compose publishes for a service: in production only the gateway's (its client port on
    every interface, the others on loopback), elsewhere every service's on loopback; the spec's
    `publish` overrides both (a `host_ip` alone publishes)."""
    enabled = svc.publish.enabled
    if enabled is None:
        enabled = svc.publish.host_ip is not None or not production or svc.role == "policy-gateway"
    if not enabled:
        return ()
    main_ip = svc.publish.host_ip or (ALL_INTERFACES if production and svc.role == "policy-gateway" else LOOPBACK)
    extra_ip = svc.publish.host_ip or LOOPBACK
    ports = [Published(main_ip, svc.port, svc.container_port or svc.port)]
    ports += [Published(extra_ip, e.port, e.container_port or e.port) for e in svc.extra_ports]
    return tuple(ports)


def is_loopback(host_ip: str) -> bool:
    return ipaddress.ip_address(host_ip).is_loopback
