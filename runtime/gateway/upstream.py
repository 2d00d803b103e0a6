"""The hop to the LiteLLM proxy, through the circuit breaker.

aiohttp rather than httpx: on this hop it measured 4-5x cheaper in CPU per request under
concurrency (see docs/benchmarks.md and bench/gateway.py). Connection errors, timeouts and 5xx
answers count as breaker failures; a 4xx is the upstream working correctly. Redirects are never
followed: a redirect would send the request (and its prompt) somewhere the specs do not name.
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from runtime.breaker import CircuitBreaker, CircuitOpenError
from runtime.errors import ApiError, retry_after
from runtime.telemetry import GatewayMetrics

__all__ = ["Upstream", "answer_too_large", "forward_headers"]

_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$")


def forward_headers(
    incoming: Mapping[str, str], client_host: str | None, scheme: str, api_key: str | None
) -> dict[str, str]:
    """Headers for the upstream request: our own credentials (never the client's key) and the
    X-Forwarded-* chain with the client appended. What a client sends in X-Forwarded-* is passed
    on only when it has the shape those headers have (addresses, a host, http or https), so no
    other text rides along unread. The caller adds the trace context of the upstream call's span."""
    out: dict[str, str] = {}
    if api_key:
        out["authorization"] = f"Bearer {api_key}"
    chain = [hop.strip() for hop in incoming.get("x-forwarded-for", "").split(",") if hop.strip()]
    if not all(_is_address(hop) for hop in chain):
        chain = []
    if client_host:
        chain.append(client_host)
    if chain:
        out["x-forwarded-for"] = ", ".join(chain)
    proto = incoming.get("x-forwarded-proto", scheme)
    out["x-forwarded-proto"] = proto if proto in ("http", "https") else scheme
    host = incoming.get("x-forwarded-host", incoming.get("host"))
    if host and _HOST.match(host):
        out["x-forwarded-host"] = host
    return out


def answer_too_large(limit: int) -> ApiError:
    """The refusal of an answer (or a stream event) over max_answer_bytes."""
    return ApiError(
        502,
        f"the model provider's answer is larger than the {limit} bytes the gateway takes "
        "(gateway.json max_answer_bytes); the answer was withheld",
        type_="service_unavailable",
        code="upstream_answer_too_large",
    )


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


class Upstream:
    def __init__(
        self,
        base_url: str,
        *,
        breaker: CircuitBreaker,
        metrics: GatewayMetrics,
        timeout_s: float,
        api_key: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self.api_key = api_key
        self.breaker = breaker
        self._metrics = metrics
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Upstream.start() was not called")
        return self._session

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1024, keepalive_timeout=30),
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url(self, path: str) -> str:
        """The upstream URL for a gateway path: /v1/… (and /policy/…) under LLM_PROVIDER_URL,
        anything else (/mcp, /a2a) at its origin."""
        for prefix in ("/v1/", "/policy/"):
            if path.startswith(prefix):
                return self.base_url + path[len(prefix) - 1 :]
        return self._origin + path

    def _refuse_if_open(self) -> None:
        try:
            self.breaker.before_call()
        except CircuitOpenError as exc:
            self._metrics.breaker_rejections.labels(self.breaker.name).inc()
            retry = max(1, math.ceil(exc.retry_after_s))
            raise ApiError(
                503,
                f"the model provider is failing and its circuit breaker is open; retry in {retry} s",
                type_="service_unavailable",
                code="upstream_circuit_open",
                headers=[retry_after(retry)],
            ) from None

    def failed(self, exc: BaseException, started: float) -> ApiError:
        """Record a failed call (breaker, metrics) and say what the client gets."""
        self.breaker.record_failure()
        timed_out = isinstance(exc, TimeoutError)
        self._metrics.upstream_duration.labels("timeout" if timed_out else "error").observe(
            time.perf_counter() - started
        )
        if timed_out:
            return ApiError(
                504,
                f"the model provider did not answer within {self._timeout_s:g} s; retry later",
                type_="service_unavailable",
                code="upstream_timeout",
            )
        return ApiError(
            502,
            "the model provider is unreachable; retry later",
            type_="service_unavailable",
            code="upstream_unavailable",
        )

    def _record_status(self, status: int, started: float) -> None:
        if status >= 500:
            self.breaker.record_failure()
            outcome = "5xx"
        else:
            self.breaker.record_success()
            outcome = "ok" if status < 400 else "4xx"
        self._metrics.upstream_duration.labels(outcome).observe(time.perf_counter() - started)

    async def open(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        query: str = "",
        stream: bool = False,
    ) -> tuple[aiohttp.ClientResponse, float]:
        """Send and return the response once its headers arrived (and when it started); the caller
        reads it with read_body or iterates it, and releases it. The breaker judges the upstream by
        the status line. A stream has no total limit: a silence longer than the timeout fails."""
        self._refuse_if_open()
        started = time.perf_counter()
        timeout = (
            aiohttp.ClientTimeout(total=None, sock_connect=self._timeout_s, sock_read=self._timeout_s)
            if stream
            else aiohttp.ClientTimeout(total=self._timeout_s)
        )
        url = self.url(path) + (f"?{query}" if query else "")
        try:
            resp = await self.session.request(
                method, url, data=body, headers=dict(headers), timeout=timeout, allow_redirects=False
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self.failed(exc, started) from None
        self._record_status(resp.status, started)
        return resp, started

    async def read_body(self, resp: aiohttp.ClientResponse, started: float, limit: int) -> bytes:
        """The whole answer, refused (502) as soon as it is known to be larger than `limit` bytes:
        from Content-Length before reading, else while reading (decompressed), so an oversized
        answer never sits in memory whole. A connection that breaks or stalls while it is read is
        a failure."""
        if resp.content_length is not None and resp.content_length > limit:
            resp.close()
            raise answer_too_large(limit)
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in resp.content.iter_any():
                size += len(chunk)
                if size > limit:
                    resp.close()
                    raise answer_too_large(limit)
                chunks.append(chunk)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self.failed(exc, started) from None
        return b"".join(chunks)

    async def get_json(self, path: str, timeout_s: float = 2.0) -> Any:
        async with self.session.get(self.url(path), timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            resp.raise_for_status()
            return await resp.json()
