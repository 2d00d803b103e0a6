"""The port registry: which service owns which host port, per environment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from compiler.load import KeyPath
from compiler.model import SpecDocument


@dataclass(frozen=True)
class PortClaim:
    service: str
    name: str  # "main" or the extra port's name
    host_port: int
    container_port: int
    path: KeyPath  # where the host port is written


def claims(doc: SpecDocument) -> Iterator[PortClaim]:
    for name, svc in doc.services.items():
        yield PortClaim(name, "main", svc.port, svc.container_port or svc.port, ("services", name, "port"))
        for i, extra in enumerate(svc.extra_ports):
            yield PortClaim(name, extra.name, extra.port, extra.container_port or extra.port,
                            ("services", name, "extra_ports", i, "port"))
