"""The gateway's ASGI applications: wiring, lifespan, hot reload and the URL maps. GatewayApp
serves the gateway's port (liveness, readiness and the model list of ops.py, then the endpoint
table of runtime.endpoints, limited to the endpoints the environment exposes; every route that
needs a key is refused at once to an address with too many failed authentications);
OperationsApp serves the operations port (ops.OPERATIONS_ROUTES).

Plain ASGI with a dict router rather than a framework: the whole request path has a budget of
about 1 ms of CPU (docs/benchmarks.md), and a framework's request objects and middleware stack
would spend a good part of it. The request path itself is pipeline.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from opentelemetry import _logs
from opentelemetry.sdk.trace import TracerProvider
from redis import asyncio as aioredis

from runtime.breaker import BreakerState, CircuitBreaker
from runtime.endpoints import match, path_is_known
from runtime.errors import ApiError
from runtime.gateway import ops, pipeline
from runtime.gateway.admission import AdmissionController
from runtime.gateway.asgi import Request, Responder, send_json
from runtime.gateway.auth import AUTH_FAILURES, Authenticator, AuthFailureLimiter, client_address, trusted_networks
from runtime.gateway.backends import BackendRouter, HealthChecker
from runtime.gateway.context import Context, PolicyEngine
from runtime.gateway.ratelimit import RateLimiter
from runtime.gateway.sentinel import sentinel_redis_client
from runtime.gateway.shared_slots import RedisSlots
from runtime.gateway.upstream import Upstream
from runtime.settings import Settings
from runtime.telemetry import (
    GatewayMetrics,
    breaker_event_listener,
    configure_tracing,
    emit_event,
)

__all__ = ["GatewayApp", "OperationsApp", "build_app"]

_log = logging.getLogger("policy_gateway.app")


def _name_os_thread() -> None:
    """Give the OS thread the Python thread's name (policy_N), so `top -H` and bench/gateway.py's
    CPU breakdown (/proc/<pid>/task/*/comm) tell the decision pool from Go's runtime threads."""
    with contextlib.suppress(OSError):  # no /proc (not Linux): names are only a diagnostic
        Path(f"/proc/self/task/{threading.get_native_id()}/comm").write_text(threading.current_thread().name[:15])


class GatewayApp:
    def __init__(
        self,
        settings: Settings,
        policy: PolicyEngine,
        *,
        redis: aioredis.Redis | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        tracer_provider: TracerProvider | None = None,
        metrics: GatewayMetrics | None = None,
        store_factory: Callable[[Path], PolicyEngine] | None = None,
    ) -> None:
        self.settings = settings
        # Hot reload builds a new store and swaps ctx.policy; requests hold on to the store they
        # started with (pipeline.Exchange), so in-flight requests finish on the old bundle.
        self._store_factory = store_factory
        self._bundle_stamp = _stamp(settings.bundle_path)
        self.reload_error: str | None = None
        metrics = metrics or GatewayMetrics()
        self.tracer_provider = tracer_provider or configure_tracing()
        breaker = CircuitBreaker(
            "llm-provider",
            settings.cb_failure_threshold,
            settings.cb_reset_timeout_s,
            clock=monotonic,
            wall_clock=clock,
            listeners=[breaker_event_listener(), metrics.breaker_listener()],
        )
        metrics.set_breaker_state(breaker.name, BreakerState.CLOSED)
        self.redis = redis
        # A tiny breaker in front of Redis: while it is down, requests get the fail-mode answer
        # at once instead of each waiting for a connection attempt.
        redis_breaker = CircuitBreaker("redis", 1, 1.0, listeners=[metrics.breaker_listener()])
        self.ctx = Context(
            settings=settings,
            policy=policy,
            metrics=metrics,
            tracer=self.tracer_provider.get_tracer("policy_gateway"),
            auth=Authenticator(settings.client_keys, settings.named_keys),
            limiter=(
                RateLimiter(
                    redis,
                    requests_per_minute=settings.requests_per_minute,
                    tokens_per_minute=settings.tokens_per_minute,
                    clock=clock,
                )
                if redis is not None and (settings.requests_per_minute or settings.tokens_per_minute)
                else None
            ),
            redis_breaker=redis_breaker,
            breaker=breaker,
            upstream=Upstream(
                settings.llm_provider_url,
                breaker=breaker,
                metrics=metrics,
                timeout_s=settings.upstream_timeout_s,
                api_key=settings.llm_provider_api_key,
            ),
            router=BackendRouter(settings.backends, settings.models),
            health=HealthChecker(settings.backends, settings.health_interval_s),
            admission=AdmissionController(
                {name: b.concurrency for name, b in settings.backends.items()},
                shared=(
                    RedisSlots(redis, redis_breaker, lease_s=settings.admission_lease_s)
                    if redis is not None
                    else None
                ),
                on_reject=lambda backend, kind: metrics.admission_rejections.labels(backend, kind).inc(),
            ),
            decisions=ThreadPoolExecutor(
                max_workers=settings.decision_threads, thread_name_prefix="policy", initializer=_name_os_thread
            ),
        )
        self.reload_state: dict[str, Any] = {"checks": 0, "reloads": 0, "rejected": 0}
        self._tasks: list[asyncio.Task[None]] = []
        self._exposed = frozenset(settings.endpoints)
        self.auth_failures = AuthFailureLimiter(settings.server.auth_failures_per_minute, clock=monotonic)
        self._trusted_proxies = trusted_networks(settings.server.trusted_proxies)
        self.operations = OperationsApp(self)

    # Shortcuts the tests and the benchmarks use.
    @property
    def policy(self) -> PolicyEngine:
        return self.ctx.policy

    @property
    def metrics(self) -> GatewayMetrics:
        return self.ctx.metrics

    @property
    def breaker(self) -> CircuitBreaker:
        return self.ctx.breaker

    @property
    def admission(self) -> AdmissionController:
        return self.ctx.admission

    @property
    def upstream(self) -> Upstream:
        return self.ctx.upstream

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        scope["app"] = self
        request = Request(scope, receive)
        responder = Responder(send)
        method, path = scope["method"], scope["path"]
        handler = ops.ROUTES.get((method, path))
        found = match(method, path) if handler is None else None
        error_body: Callable[[ApiError], bytes] = ApiError.body
        address: str | None = None  # set for the routes that need a key
        try:
            if handler is None:
                if found is None:
                    raise _no_route(method, path)
                error_body = found.endpoint.error_body
                if found.endpoint.name not in self._exposed:
                    raise ApiError(
                        404,
                        f"the {found.endpoint.title} endpoint is not exposed in environment "
                        f"{self.settings.environment!r} (specs: gateway.endpoints)",
                        code="endpoint_not_exposed",
                    )
            if handler is None or handler is ops.list_models:
                address = client_address(
                    request.client_host, request.headers.get("x-forwarded-for"), self._trusted_proxies
                )
                self.auth_failures.check(address)
            if handler is not None:
                await handler(request, responder)
            else:
                assert found is not None
                await pipeline.handle(self.ctx, request, responder, found)
        except ApiError as exc:
            if address is not None:
                self._count_auth_failure(address, exc)
            if not responder.started:
                await send_json(responder, exc.status, error_body(exc), exc.headers)
        except Exception:
            await _internal_error(responder, path)

    def _count_auth_failure(self, address: str, exc: ApiError) -> None:
        if exc.code == "too_many_auth_failures":
            self.metrics.auth_failures.labels(exc.code).inc()
        elif exc.code in AUTH_FAILURES:
            self.metrics.auth_failures.labels(exc.code).inc()
            if self.auth_failures.record(address):
                # once per address and window; the request's own line says which key was not valid
                _log.warning(
                    "authentication failures throttled",
                    extra={"client": address, "per_minute": self.auth_failures.per_minute},
                )

    def set_breaker_gauges(self) -> None:
        """Reading a breaker's state moves it from open to half-open once its timeout passed;
        do that before exporting, so the gauge does not show a stale `open`."""
        for breaker in (self.ctx.breaker, self.ctx.redis_breaker):
            self.metrics.set_breaker_state(breaker.name, breaker.state)

    # --- lifespan -------------------------------------------------------------------------

    async def startup(self) -> None:
        await self.ctx.upstream.start()
        self.ctx.health.start(self.ctx.upstream.session)
        self._tasks.append(asyncio.create_task(self._watch_bundle(), name="bundle-watch"))
        if self.ctx.admission.shared is not None:
            self._tasks.append(asyncio.create_task(self.ctx.admission.shared.keep_alive(), name="admission-leases"))
        self.metrics.bundle_loaded.set(time.time())

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.ctx.health.stop()
        await self.ctx.upstream.close()
        self.ctx.decisions.shutdown(wait=False, cancel_futures=True)
        if self.redis is not None:
            await self.redis.aclose()

    async def _lifespan(
        self,
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- hot reload -----------------------------------------------------------------------

    async def check_bundle(self) -> bool:
        """One hot-reload check: when the bundle file changed, load it into a new store and swap.
        The store proves the bundle before anything is loaded (its manifest's digests, the
        signature the specs require, no policy off in production). A bundle that does not load is
        rejected (metric, event, /hot-reload/status) and the current store keeps serving, with
        the revision it has; it is tried again once the file changes again."""
        self.reload_state["checks"] += 1
        stamp = _stamp(self.settings.bundle_path)
        if self._store_factory is None or stamp == self._bundle_stamp:
            return False
        self._bundle_stamp = stamp
        serving = _revision(self.ctx.policy)[0]
        try:
            store = await asyncio.to_thread(self._store_factory, self.settings.bundle_path)
        except Exception as exc:
            self.reload_error = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
            self.reload_state["rejected"] += 1
            self.metrics.bundle_reloads.labels("rejected").inc()
            emit_event(
                "policy_gateway.policy_bundle.rejected",
                {"error": self.reload_error, "revision": str(serving or "")},
                severity=_logs.SeverityNumber.WARN,
            )
            return False
        self.reload_error = None
        if _revision(store) == _revision(self.ctx.policy):
            return False  # touched or rewritten with the same content
        self.ctx.policy = store
        self.reload_state["reloads"] += 1
        self.metrics.bundle_reloads.labels("loaded").inc()
        self.metrics.bundle_loaded.set(time.time())
        loaded = _revision(store)[0]
        emit_event(
            "policy_gateway.policy_bundle.reloaded",
            {
                "versions": ",".join(f"{k}={v}" for k, v in sorted(store.versions.items())),
                "revision": str(loaded or ""),
                "previous_revision": str(serving or ""),
                "signed_by": str(store.status().get("signed_by") or ""),
            },
        )
        return True

    async def _watch_bundle(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reload_interval_s)
            try:
                await self.check_bundle()
            except Exception:
                _log.exception("bundle check failed")


class OperationsApp:
    """The operations endpoints of a GatewayApp, for the operations port (serve.py runs it without
    a lifespan: the gateway's own runs on its port)."""

    def __init__(self, gateway: GatewayApp) -> None:
        self.gateway = gateway

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        scope["app"] = self.gateway
        responder = Responder(send)
        method, path = scope["method"], scope["path"]
        handler = ops.OPERATIONS_ROUTES.get((method, path))
        try:
            if handler is None:
                if any(p == path for _, p in ops.OPERATIONS_ROUTES):
                    raise ApiError(405, f"method {method} not allowed here", code="method_not_allowed")
                raise ApiError(404, f"no route {path} on the operations port", code="not_found")
            await handler(Request(scope, receive), responder)
        except ApiError as exc:
            if not responder.started:
                await send_json(responder, exc.status, exc.body(), exc.headers)
        except Exception:
            await _internal_error(responder, path)


def _no_route(method: str, path: str) -> ApiError:
    if path_is_known(path) or any(p == path for _, p in ops.ROUTES):
        return ApiError(405, f"method {method} not allowed here", code="method_not_allowed")
    if any(p == path for _, p in ops.OPERATIONS_ROUTES):
        return ApiError(
            404,
            f"{path} is served on the gateway's operations port (operations_port of gateway.json), not here",
            code="not_found",
        )
    return ApiError(404, f"no route {path}", code="not_found")


async def _internal_error(responder: Responder, path: str) -> None:
    _log.exception("unhandled error", extra={"path": path})
    if not responder.started:
        err = ApiError(
            500, "internal gateway error; see the gateway's logs", type_="server_error", code="internal_error"
        )
        await send_json(responder, 500, err.body(), [])


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _revision(store: PolicyEngine) -> tuple[Any, Any]:
    try:
        status = store.status()
    except Exception:
        return (None, None)
    return (status.get("revision"), status.get("digest"))


def build_app(
    settings: Settings,
    policy: PolicyEngine,
    *,
    tracer_provider: TracerProvider | None = None,
    metrics: GatewayMetrics | None = None,
    store_factory: Callable[[Path], PolicyEngine] | None = None,
) -> GatewayApp:
    """The app as `gatewayctl serve` runs it, with Redis from REDIS_URL (redis_client) or found
    through Redis Sentinel (REDIS_SENTINELS)."""
    redis = None
    if settings.redis_sentinels:
        redis = sentinel_redis_client(
            settings.redis_sentinels,
            str(settings.redis_sentinel_master),
            settings.redis_max_connections,
            password=settings.redis_password,
        )
    elif settings.redis_url:
        redis = redis_client(settings.redis_url, settings.redis_max_connections, password=settings.redis_password)
    return GatewayApp(settings, policy, redis=redis, tracer_provider=tracer_provider, metrics=metrics,
                      store_factory=store_factory)


def redis_client(url: str, max_connections: int, *, password: str | None = None) -> aioredis.Redis:
    """Redis with short timeouts, so an unreachable Redis costs a request milliseconds, not
    seconds, before the fail mode applies, and at most `max_connections` connections: a request
    waits up to 0.5 s for a free one, then Redis counts as unavailable (the fail mode again;
    closed: 503 with Retry-After). A pool that is full that long means Redis answers too slowly
    for the load, and more connections would only add to it."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        password=password,
        timeout=0.5,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        health_check_interval=0,
    )
    return aioredis.Redis.from_pool(pool)
