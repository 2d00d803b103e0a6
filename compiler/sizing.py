"""How long a request may take and how big it may be, and what the deploy artifacts must allow for it.

The longest request is the longest timeout of a model the environment serves (LiteLLM's per-model
`timeout`, the router's where a model sets none): an nginx ingress must not cut it (its read and
send timeouts default to 60 s), and a pod that stops must be given that long to finish it.
"""

from __future__ import annotations

import math
import re

from compiler.model import SpecDocument
from compiler.model.backends import Model

NGINX = "nginx.ingress.kubernetes.io/"
READ_TIMEOUT = NGINX + "proxy-read-timeout"
SEND_TIMEOUT = NGINX + "proxy-send-timeout"
BODY_SIZE = NGINX + "proxy-body-size"
# Seconds between a pod leaving the Service's endpoints and its SIGTERM: the preStop sleep, so no
# new request arrives once the gateway stops accepting (endpoint removal is asynchronous).
PRESTOP_SLEEP_S = 5
# Seconds on top of the drain for the process to exit after its last request.
EXIT_MARGIN_S = 5
_SIZE_RE = re.compile(r"^(\d+)([kKmMgG]?)$")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def model_timeout(model: Model, doc: SpecDocument) -> float:
    return model.timeout_s if model.timeout_s is not None else doc.router.timeout_s


def longest_model(doc: SpecDocument, served: frozenset[str]) -> tuple[int, Model] | None:
    """(index in doc.models, model) of the served model with the longest timeout; None: none served."""
    candidates = [(i, m) for i, m in enumerate(doc.models) if m.capability in served]
    return max(candidates, key=lambda im: model_timeout(im[1], doc), default=None)


def whole_seconds(seconds: float) -> int:
    return math.ceil(seconds)


def nginx_annotations(longest_s: float, max_body_bytes: int) -> dict[str, str]:
    """ingress-nginx's timeouts and body limit that let every request of the environment through."""
    timeout = str(whole_seconds(longest_s))
    return {READ_TIMEOUT: timeout, SEND_TIMEOUT: timeout, BODY_SIZE: format_size(max_body_bytes)}


def termination_grace_s(longest_s: float) -> int:
    """A stopping pod's grace period: the preStop sleep, the longest request, a margin to exit."""
    return PRESTOP_SLEEP_S + whole_seconds(longest_s) + EXIT_MARGIN_S


def format_size(n: int) -> str:
    """nginx's size syntax, rounded up to the next unit that fits (1048576 -> "1m")."""
    for unit in ("g", "m", "k"):
        if n % _UNITS[unit] == 0:
            return f"{n // _UNITS[unit]}{unit}"
    return f"{math.ceil(n / 1024)}k"


def parse_size(text: str) -> int | None:
    """Bytes of an nginx size ("8m", "512k", "1048576"); None when it is not one. 0 means no limit."""
    found = _SIZE_RE.match(text.strip())
    return int(found.group(1)) * _UNITS[found.group(2).lower()] if found else None


def parse_seconds(text: str) -> int | None:
    """ingress-nginx's timeouts are whole seconds; None when the value is not one."""
    return int(text) if text.strip().isdigit() else None
