"""The hop to the LiteLLM proxy, through the circuit breaker.

aiohttp rather than httpx: on this hop it measured 4-5x cheaper in CPU per request under
concurrency (see docs/benchmarks.md and bench/gateway.py). Connection errors, timeouts and 5xx
answers count as breaker failures; a 4xx is the upstream working correctly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from runtime.breaker import CircuitBreaker, CircuitOpenError
from runtime.gateway.errors import GatewayError
from runtime.telemetry import GatewayMetrics

__all__ = ["Upstream", "forward_headers"]


def forward_headers(
    incoming: Mapping[str, str], client_host: str | None, scheme: str, api_key: str | None
) -> dict[str, str]:
    """Headers for the upstream request: our own credentials (never the client's key) and the
    X-Forwarded-* chain with the client appended. The caller adds the trace context from the
    span of the upstream call."""
    out = {"content-type": "application/json"}
    if api_key:
        out["authorization"] = f"Bearer {api_key}"
    xff = incoming.get("x-forwarded-for")
    if client_host:
        xff = f"{xff}, {client_host}" if xff else client_host
    if xff:
        out["x-forwarded-for"] = xff
    out["x-forwarded-proto"] = incoming.get("x-forwarded-proto", scheme)
    host = incoming.get("x-forwarded-host", incoming.get("host"))
    if host:
        out["x-forwarded-host"] = host
    if "x-request-id" in incoming:
        out["x-request-id"] = incoming["x-request-id"]
    return out


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
            # The gateway answers with its own JSON; no need to negotiate compression.
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _refuse_if_open(self) -> None:
        try:
            self.breaker.before_call()
        except CircuitOpenError as exc:
            self._metrics.breaker_rejections.labels(self.breaker.name).inc()
            retry = max(1, math.ceil(exc.retry_after_s))
            raise GatewayError(
                503,
                f"the model provider is failing and its circuit breaker is open; retry in {retry} s",
                type_="service_unavailable",
                code="upstream_circuit_open",
                headers=[(b"retry-after", str(retry).encode())],
            ) from None

    def _failed(self, exc: BaseException, started: float) -> GatewayError:
        self.breaker.record_failure()
        timed_out = isinstance(exc, TimeoutError)
        self._metrics.upstream_duration.labels("timeout" if timed_out else "error").observe(
            time.perf_counter() - started
        )
        if timed_out:
            return GatewayError(
                504,
                f"the model provider did not answer within {self._timeout_s:g} s; retry later",
                type_="service_unavailable",
                code="upstream_timeout",
            )
        return GatewayError(
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

    async def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """POST and read the whole answer: (status, body)."""
        self._refuse_if_open()
        started = time.perf_counter()
        try:
            async with self.session.post(
                self.base_url + path,
                data=body,
                headers=dict(headers),
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
            ) as resp:
                payload = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._failed(exc, started) from None
        self._record_status(status, started)
        return status, payload

    async def open_stream(self, path: str, body: bytes, headers: Mapping[str, str]) -> aiohttp.ClientResponse:
        """POST and return the response once its headers arrived; the caller reads and
        releases it. The breaker judges the upstream by the status line."""
        self._refuse_if_open()
        started = time.perf_counter()
        try:
            resp = await self.session.post(
                self.base_url + path,
                data=body,
                headers=dict(headers),
                # No total limit for a stream; a silence longer than the timeout is a failure.
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._timeout_s, sock_read=self._timeout_s),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._failed(exc, started) from None
        self._record_status(resp.status, started)
        return resp

    async def get_json(self, path: str, timeout_s: float = 2.0) -> Any:
        async with self.session.get(self.base_url + path, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            resp.raise_for_status()
            return await resp.json()
