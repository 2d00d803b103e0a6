"""Where a backend sends the prompts it gets: local (this host), private (the site) or external."""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

from compiler.model.backends import Backend

Locality = Literal["local", "private", "external"]
# Names that resolve only inside a site (RFC 6762 .local, RFC 8375 .home.arpa, Kubernetes, common LAN use).
_SITE_SUFFIXES = (".internal", ".local", ".lan", ".localdomain", ".home.arpa", ".svc", ".cluster.local", ".intranet")


def locality(backend: Backend) -> Locality:
    """The spec's `locality`, else what the base_url's host says."""
    if backend.locality is not None:
        return backend.locality
    return host_locality(urlsplit(backend.base_url).hostname or "")


def host_locality(host: str) -> Locality:
    """What a host name or address says about where it is (MCP servers, agents and Redis use it too)."""
    host = host.lower()
    if host == "localhost":
        return "local"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "private" if "." not in host or host.endswith(_SITE_SUFFIXES) else "external"
    if address.is_loopback:
        return "local"
    return "private" if address.is_private or address.is_link_local else "external"
