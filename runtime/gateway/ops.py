"""Operations endpoints, apart from the request path, in two tables. ROUTES are served on the
gateway's port: liveness and readiness (for the orchestrator, open), the list of models and the
OpenAPI document (a client key). OPERATIONS_ROUTES show how the gateway is configured and doing (health with policy
versions and breaker state, metrics, status, hot reload) and are served only on the operations
port (`operations_port`), which is not published to clients."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from runtime.endpoints import ENDPOINTS
from runtime.gateway.asgi import Request, Responder, send_json
from runtime.gateway.openapi import openapi

if TYPE_CHECKING:
    from runtime.gateway.app import GatewayApp

__all__ = ["OPERATIONS_ROUTES", "ROUTES"]


def _app(request: Request) -> GatewayApp:
    app: GatewayApp = request.scope["app"]
    return app


async def list_models(request: Request, responder: Responder) -> None:
    """The models (OpenAI's list shape, with each model's capability and the endpoints that serve
    it) and the endpoints this environment exposes."""
    app = _app(request)
    app.ctx.auth.authenticate(request.headers)
    exposed = [ENDPOINTS[name] for name in app.settings.endpoints if name in ENDPOINTS]
    data = [
        {
            "id": name,
            "object": "model",
            "owned_by": m.backend,
            "capability": m.capability,
            "endpoints": [e.name for e in exposed if e.capability == m.capability],
        }
        for name, m in sorted(app.settings.models.items())
    ]
    endpoints = [
        {
            "name": e.name,
            "title": e.title,
            "capability": e.capability,
            "routes": [f"{r.method} {r.path}" for r in e.routes],
        }
        for e in exposed
    ]
    body = json.dumps({"object": "list", "data": data, "endpoints": endpoints}).encode()
    await send_json(responder, 200, body, [])


async def liveliness(request: Request, responder: Responder) -> None:
    await send_json(responder, 200, b'{"status":"alive"}', [])


async def _readiness_problems(app: GatewayApp) -> list[str]:
    problems = []
    try:
        status = app.ctx.policy.status()
        if not status.get("revision") and not app.ctx.policy.versions:
            problems.append("policy bundle not loaded")
    except Exception as exc:
        problems.append(f"policy engine unavailable ({type(exc).__name__})")
    # In fail mode open a Redis outage only loosens limits, so it does not make us unready.
    limiter = app.ctx.limiter
    if limiter is not None and app.settings.fail_mode == "closed" and not await limiter.ping():
        problems.append("redis unreachable")
    return problems


async def readiness(request: Request, responder: Responder) -> None:
    problems = await _readiness_problems(_app(request))
    body = {"status": "ready" if not problems else "not_ready", "problems": problems}
    await send_json(responder, 200 if not problems else 503, json.dumps(body).encode(), [])


async def health(request: Request, responder: Responder) -> None:
    app = _app(request)
    problems = await _readiness_problems(app)
    body = {
        "status": "healthy" if not problems else "unhealthy",
        "problems": problems,
        "circuit_breaker": app.ctx.breaker.state.value,
        "policy_versions": _versions(app),
    }
    await send_json(responder, 200 if not problems else 503, json.dumps(body).encode(), [])


def _loaded_policies(app: GatewayApp) -> dict[str, Any]:
    try:
        status = app.ctx.policy.status()
    except Exception:
        status = {}
    return {
        "revision": status.get("revision"),
        "versions": _versions(app),
        "modes": status.get("modes") or {k: v.get("mode") for k, v in sorted(app.settings.policies.items())},
        "signed_by": status.get("signed_by"),
    }


def _versions(app: GatewayApp) -> dict[str, str]:
    try:
        return dict(app.ctx.policy.versions)
    except Exception:
        return {}


async def metrics(request: Request, responder: Responder) -> None:
    app = _app(request)
    app.set_breaker_gauges()
    body = generate_latest(app.ctx.metrics.registry)
    await responder.start(
        200,
        [(b"content-type", CONTENT_TYPE_LATEST.encode()), (b"content-length", str(len(body)).encode())],
    )
    await responder.body(body)


async def gateway_status(request: Request, responder: Responder) -> None:
    app = _app(request)
    ctx = app.ctx
    breaker = ctx.breaker
    body: dict[str, Any] = {
        "environment": app.settings.environment,
        "sea_env": app.settings.sea_env,
        "fail_mode": app.settings.fail_mode,
        "endpoints": list(app.settings.endpoints),
        "admission": ctx.admission.stats(),
        "admission_store": "redis" if ctx.admission.shared is not None else None,
        "backends": ctx.health.status(),
        "circuit_breaker": {
            "name": breaker.name,
            "state": breaker.state.value,
            "failure_count": breaker.failure_count,
            "failure_threshold": breaker.failure_threshold,
            "reset_timeout_s": breaker.reset_timeout_s,
            "retry_after_s": round(breaker.retry_after_s(), 3),
        },
        # What the loaded bundle says (a hot reload may have changed it since the start).
        "policies": _loaded_policies(app),
        "rate_limit": {
            "requests_per_minute": app.settings.requests_per_minute,
            "tokens_per_minute": app.settings.tokens_per_minute,
            "store": "redis" if ctx.limiter is not None else None,
            "store_breaker": ctx.redis_breaker.state.value,
        },
    }
    await send_json(responder, 200, json.dumps(body).encode(), [])


async def hot_reload_status(request: Request, responder: Responder) -> None:
    app = _app(request)
    try:
        status = dict(app.ctx.policy.status())
    except Exception as exc:
        status = {"last_error": f"status unavailable ({type(exc).__name__})"}
    status.update(app.reload_state)
    # The gateway does the reloading (a new store per bundle), so the last error is its own.
    status["last_error"] = app.reload_error or status.get("last_error")
    status["interval_s"] = app.settings.reload_interval_s
    await send_json(responder, 200, json.dumps(status, default=str).encode(), [])


Handler = Callable[[Request, Responder], Awaitable[None]]

ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/v1/models"): list_models,
    ("GET", "/openapi.json"): openapi,
    ("GET", "/health/liveliness"): liveliness,
    ("GET", "/health/readiness"): readiness,
}

OPERATIONS_ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/health"): health,
    ("GET", "/health/liveliness"): liveliness,
    ("GET", "/health/readiness"): readiness,
    ("GET", "/metrics"): metrics,
    ("GET", "/v1/gateway/status"): gateway_status,
    ("GET", "/hot-reload/status"): hot_reload_status,
}
