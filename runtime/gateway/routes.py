"""The request path. `chat_completions` serves both /v1/chat/completions and
/policy/chat/completions, so both share every step, in this order:

auth → rate limit (Redis) → body size → validation → capability gating → backend readiness →
admission → prompt policy → upstream through the breaker → output policy → answer with the
decision headers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from runtime.breaker import CircuitOpenError
from runtime.endpoints import ENDPOINTS, answer_input, prompt_input, read_answer, set_path
from runtime.gateway.asgi import Request, Responder, send_json
from runtime.gateway.enforce import PolicyEngine, Verdict, apply_redactions, blocked_error, evaluate
from runtime.gateway.errors import GatewayError
from runtime.gateway.ratelimit import LimitResult, RedisUnavailableError
from runtime.gateway.streaming import SseOutputFilter
from runtime.gateway.upstream import forward_headers
from runtime.telemetry import emit_event

if TYPE_CHECKING:
    from runtime.gateway.app import GatewayApp

__all__ = [
    "chat_completions",
    "gateway_status",
    "health",
    "hot_reload_status",
    "list_models",
    "liveliness",
    "metrics",
    "readiness",
]

_log = logging.getLogger("policy_gateway.access")
_ROLES = frozenset({"system", "user", "assistant", "tool", "function", "developer"})
_CHAT = "chat"
_ENDPOINT = ENDPOINTS["chat"]


def _app(request: Request) -> GatewayApp:
    app: GatewayApp = request.scope["app"]
    return app


# --- the request path -----------------------------------------------------------------------


async def chat_completions(request: Request, responder: Responder) -> None:
    app = _app(request)
    started = time.perf_counter()
    parent = extract(request.headers)
    span = app.tracer.start_span(
        f"POST {request.path}",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "POST", "url.path": request.path},
    )
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    log: dict[str, Any] = {"route": request.path}
    status = 500
    try:
        status = await _chat(app, request, responder, span, log)
    except GatewayError as exc:
        status = exc.status
        log["error"] = exc.code
        span.set_attribute("error.type", exc.code)
        raise
    except Exception as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR))
        raise
    finally:
        span.set_attribute("http.response.status_code", status)
        elapsed = time.perf_counter() - started
        app.metrics.requests.labels(request.path, str(status)).inc()
        app.metrics.request_duration.labels(request.path).observe(elapsed)
        _log.info(
            "request",
            extra={"status": status, "duration_ms": round(elapsed * 1000, 2), **log},
        )
        span.end()
        otel_context.detach(token)


async def _chat(app: GatewayApp, request: Request, responder: Responder, span: Any, log: dict[str, Any]) -> int:
    settings = app.settings
    key_id = app.auth.authenticate(request.headers)
    log["key_id"] = key_id
    limit = await _rate_limit(app, key_id)
    if limit is not None:
        responder.extra_headers.extend(limit.headers())
        if not limit.allowed:
            app.metrics.rate_limited.labels(limit.limit_name).inc()
            what = "requests" if limit.limit_name == "requests" else "tokens"
            raise GatewayError(
                429,
                f"rate limit of {limit.limit} {what} per minute reached for this API key; "
                f"retry after {max(1, math.ceil(limit.retry_after_s))} s",
                type_="rate_limit_error",
                code="rate_limit_exceeded",
            )
    raw = await request.body(settings.max_body_bytes)
    body = _parse(raw)
    model = body["model"]
    route = app.router.resolve(model, _CHAT)
    log.update(model=model, backend=route.backend)
    span.set_attribute("gen_ai.request.model", model)
    app.health.require_ready(route.backend)
    with app.admission.slot(route.backend, _CHAT):
        app.metrics.inflight.labels(route.backend, _CHAT).inc()
        try:
            # One store for the whole request: a hot reload swaps app.policy, and this request
            # still finishes (output policy included) on the bundle it started with.
            engine = app.policy
            prompt = _decide(app, engine, "prompt", prompt_input(_ENDPOINT, body))
            log["prompt_decision"] = prompt.action
            if not prompt.passes:
                log["categories"] = list(prompt.categories)
                raise blocked_error(prompt)
            debug = [
                (b"x-backend-used", route.backend.encode()),
                (b"x-router-reason", route.reason.encode()),
            ]
            headers = forward_headers(request.headers, request.client_host, request.scheme, app.upstream.api_key)
            # The client's bytes go upstream unchanged: validated, never re-serialised.
            if body.get("stream"):
                return await _stream(app, engine, request, body, raw, headers, prompt, debug, responder, key_id, log)
            return await _complete(app, engine, body, raw, headers, prompt, debug, responder, key_id, log)
        finally:
            app.metrics.inflight.labels(route.backend, _CHAT).dec()


async def _rate_limit(app: GatewayApp, key_id: str) -> LimitResult | None:
    if app.limiter is None:
        return None
    try:
        app.redis_breaker.before_call()
        result = await app.limiter.admit(key_id)
    except (RedisUnavailableError, CircuitOpenError) as exc:
        if isinstance(exc, RedisUnavailableError):
            app.redis_breaker.record_failure()
        _redis_down(app, "rate_limit")
        return None
    app.redis_breaker.record_success()
    return result


def _redis_down(app: GatewayApp, purpose: str) -> None:
    """Redis could not answer a limit decision: refuse (closed) or pass loudly (open)."""
    if app.settings.fail_mode == "open":
        app.metrics.fail_open.labels(f"redis_{purpose}").inc()
        emit_event("policy_gateway.fail_open", {"reason": f"redis_unavailable_{purpose}"})
        return
    raise GatewayError(
        503,
        "the rate-limit store (Redis) is unreachable, so the request was refused "
        "(POLICY_GATEWAY_FAIL_MODE=closed); retry shortly",
        type_="service_unavailable",
        code="rate_limit_store_unavailable",
        headers=[(b"retry-after", b"5")],
    )


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise GatewayError(
            400,
            "request body is not valid JSON; send a chat-completions object",
            code="invalid_json",
        ) from None
    if not isinstance(body, dict):
        raise GatewayError(400, "request body must be a JSON object", code="invalid_request")

    def bad(param: str, message: str) -> GatewayError:
        return GatewayError(400, message, code="invalid_request", param=param)

    if not isinstance(body.get("model"), str) or not body["model"]:
        raise bad("model", "`model` is required: a model name from GET /v1/models")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("messages", "`messages` must be a non-empty list of {role, content} objects")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            raise bad(f"messages[{i}].role", f"messages[{i}] needs a role, one of {sorted(_ROLES)}")
        content = m.get("content")
        if content is not None and not isinstance(content, str | list):
            raise bad(f"messages[{i}].content", f"messages[{i}].content must be a string or list")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise bad("stream", "`stream` must be true or false")
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise bad(name, f"`{name}` must be a positive integer")
    return body


def _decide(app: GatewayApp, engine: PolicyEngine, policy: str, input: Mapping[str, Any]) -> Verdict:
    with app.tracer.start_as_current_span(f"policy {policy}") as span:
        verdict = evaluate(
            engine,
            policy,  # type: ignore[arg-type]
            input,
            fail_mode=app.settings.fail_mode,
            metrics=app.metrics,
            redact_allowed=policy == "output",
        )
        span.set_attributes(
            {
                "policy.name": policy,
                "policy.version": verdict.version,
                "policy.mode": verdict.mode,
                "policy.decision": verdict.action,
                "policy.categories": list(verdict.categories),
            }
        )
    return verdict


def _decision_headers(verdicts: list[Verdict]) -> list[tuple[bytes, bytes]]:
    actions = {v.action for v in verdicts}
    decision = next(
        (a for a in ("redact", "fail_open", "monitor") if a in actions),
        "off" if actions == {"off"} else "allow",
    )
    versions = ",".join(f"{v.policy}={v.version}" for v in verdicts if v.version)
    categories = sorted({c for v in verdicts for c in v.categories})
    out = [(b"x-policy-decision", decision.encode()), (b"x-policy-version", versions.encode())]
    if categories:
        out.append((b"x-policy-categories", ",".join(categories).encode()))
    return out


async def _complete(
    app: GatewayApp,
    engine: PolicyEngine,
    body: dict[str, Any],
    raw: bytes,
    headers: dict[str, str],
    prompt: Verdict,
    debug: list[tuple[bytes, bytes]],
    responder: Responder,
    key_id: str,
    log: dict[str, Any],
) -> int:
    with app.tracer.start_as_current_span(
        f"chat {body['model']}", kind=SpanKind.CLIENT, attributes=_genai_request(body["model"])
    ) as span:
        headers = {**headers, **_trace_headers()}
        status, payload = await app.upstream.post("/chat/completions", raw, headers)
        span.set_attribute("http.response.status_code", status)
        if status >= 400:
            return await _upstream_error(responder, status, payload, debug, prompt)
        try:
            answer = json.loads(payload)
            if not isinstance(answer, dict) or not isinstance(answer["choices"], list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise GatewayError(
                502,
                "the model provider sent an answer that is not a chat completion",
                type_="service_unavailable",
                code="upstream_bad_answer",
            ) from None
        model_used = str(answer.get("model") or body["model"])
        usage = _usage(app, answer.get("usage"), model_used, span)
    verdicts = [prompt]
    texts = {t.field: t for t in read_answer(_ENDPOINT, answer).texts}
    verdict = _decide(app, engine, "output", answer_input(_ENDPOINT, list(texts.values()), model_used))
    verdicts.append(verdict)
    if not verdict.passes:
        log["categories"] = list(verdict.categories)
        raise blocked_error(verdict)
    changed = verdict.action == "redact"
    if changed:
        by_field: dict[str, list[Mapping[str, Any]]] = {}
        for r in verdict.redactions:
            by_field.setdefault(str(r.get("field")), []).append(r)
        try:
            for name, spans in by_field.items():
                set_path(answer, texts[name].path, apply_redactions(texts[name].text, spans))
        except (KeyError, ValueError):
            raise blocked_error(verdict) from None
    await _charge(app, key_id, usage)
    if changed:
        payload = json.dumps(answer).encode()
    decision = _decision_headers(verdicts)
    log["decision"] = decision[0][1].decode()
    await send_json(responder, 200, payload, [*decision, *debug, (b"x-model-used", model_used.encode())])
    return 200


def _output_cannot_act(app: GatewayApp, engine: PolicyEngine, model: str) -> bool:
    """True when the output policy is `off` or `monitor`, so a stream need not be held back.
    gateway.json says which mode was compiled; the loaded bundle has the last word (a hot reload
    may have moved it to `enforce`), asked once with an empty text, only when it could be true."""
    if app.settings.policies.get("output", {}).get("mode") not in ("off", "monitor"):
        return False
    try:
        mode = engine.evaluate("output", {"texts": [], "model": model}).get("mode")
    except Exception:
        return False
    return mode in ("off", "monitor")


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _genai_request(model: str) -> dict[str, Any]:
    return {"gen_ai.operation.name": "chat", "gen_ai.request.model": model}


def _trace_headers() -> dict[str, str]:
    """traceparent/tracestate of the current span (the upstream call's)."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


async def _upstream_error(
    responder: Responder,
    status: int,
    payload: bytes,
    debug: list[tuple[bytes, bytes]],
    prompt: Verdict,
) -> int:
    """4xx: the upstream's own OpenAI-style error, passed on. 5xx: 502 in our words (the
    upstream's text may carry internals)."""
    if status < 500:
        await send_json(responder, status, payload, [*_decision_headers([prompt]), *debug])
        return status
    raise GatewayError(
        502,
        f"the model provider failed (HTTP {status}); retry later",
        type_="service_unavailable",
        code="upstream_error",
        upstream_status=status,
    )


def _usage(app: GatewayApp, usage: Any, model: str, span: Any) -> int:
    """Record the upstream's token counts (span, metrics); returns the total to charge."""
    if not isinstance(usage, dict):
        return 0
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    completion_tokens = int(usage.get("completion_tokens") or 0)
    span.set_attributes(
        {
            "gen_ai.response.model": model,
            "gen_ai.usage.input_tokens": prompt_tokens,
            "gen_ai.usage.output_tokens": completion_tokens,
        }
    )
    app.metrics.tokens.labels(model, "input").inc(prompt_tokens)
    app.metrics.tokens.labels(model, "output").inc(completion_tokens)
    return prompt_tokens + completion_tokens


async def _charge(app: GatewayApp, key_id: str, tokens: int) -> None:
    if app.limiter is None or not app.settings.tokens_per_minute or tokens <= 0:
        return
    try:
        await app.limiter.charge_tokens(key_id, tokens)
    except RedisUnavailableError:
        # The answer is already out; an uncharged budget is logged, not turned into an error.
        app.metrics.fail_open.labels("redis_token_charge").inc()
        _log.warning("token budget not charged: Redis unavailable", extra={"key_id": key_id})


async def _stream(
    app: GatewayApp,
    engine: PolicyEngine,
    request: Request,
    body: dict[str, Any],
    raw: bytes,
    headers: dict[str, str],
    prompt: Verdict,
    debug: list[tuple[bytes, bytes]],
    responder: Responder,
    key_id: str,
    log: dict[str, Any],
) -> int:
    model = body["model"]
    with app.tracer.start_as_current_span(
        f"chat {model}", kind=SpanKind.CLIENT, attributes=_genai_request(model)
    ) as span:
        headers = {**headers, **_trace_headers()}
        resp = await app.upstream.open_stream("/chat/completions", raw, headers)
        try:
            if resp.status >= 400:
                return await _upstream_error(responder, resp.status, await resp.read(), debug, prompt)
            sse = SseOutputFilter(
                lambda text: _decide(
                    app, engine, "output", {"model": model, "texts": [{"field": "text", "text": text}]}
                ),
                observe_only=_output_cannot_act(app, engine, model),
            )
            await responder.start(
                200,
                [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    *_decision_headers([prompt]),
                    *debug,
                    (b"x-model-used", model.encode()),
                ],
            )
            # A client that hangs up should stop the generation it asked for: drop the upstream
            # connection instead of reading the answer to its end for nobody.
            gone = asyncio.create_task(_disconnected(request))
            try:
                async for data in resp.content.iter_any():
                    out = sse.feed(data)
                    if out:
                        await responder.body(b"".join(out), more=True)
                    if sse.stopped or gone.done():
                        resp.close()
                        break
                if gone.done():
                    log["error"] = "client_closed"
                else:
                    await responder.body(b"".join(sse.finish()), more=False)
            finally:
                gone.cancel()
        finally:
            resp.release()
        actions = {v.action for v in sse.verdicts}
        log["decision"] = "block" if sse.stopped else ("redact" if sse.redacted else "allow")
        log["output_actions"] = sorted(actions)
        tokens = _usage(app, sse.usage, model, span)
    await _charge(app, key_id, tokens)
    return 200


# --- models, health, status, metrics ---------------------------------------------------------


async def list_models(request: Request, responder: Responder) -> None:
    app = _app(request)
    app.auth.authenticate(request.headers)
    data = [
        {
            "id": name,
            "object": "model",
            "owned_by": m.backend,
            "capability": m.capability,
        }
        for name, m in sorted(app.settings.models.items())
    ]
    body = json.dumps({"object": "list", "data": data}).encode()
    await send_json(responder, 200, body, [])


async def liveliness(request: Request, responder: Responder) -> None:
    await send_json(responder, 200, b'{"status":"alive"}', [])


async def _readiness_problems(app: GatewayApp) -> list[str]:
    problems = []
    try:
        status = app.policy.status()
        if not status.get("revision") and not app.policy.versions:
            problems.append("policy bundle not loaded")
    except Exception as exc:
        problems.append(f"policy engine unavailable ({type(exc).__name__})")
    # In fail mode open a Redis outage only loosens limits, so it does not make us unready.
    redis_needed = app.limiter is not None and app.settings.fail_mode == "closed"
    if redis_needed and not await app.limiter.ping():  # type: ignore[union-attr]
        problems.append("redis unreachable")
    return problems


async def readiness(request: Request, responder: Responder) -> None:
    app = _app(request)
    problems = await _readiness_problems(app)
    body = {"status": "ready" if not problems else "not_ready", "problems": problems}
    await send_json(responder, 200 if not problems else 503, json.dumps(body).encode(), [])


async def health(request: Request, responder: Responder) -> None:
    app = _app(request)
    problems = await _readiness_problems(app)
    body = {
        "status": "healthy" if not problems else "unhealthy",
        "problems": problems,
        "circuit_breaker": app.breaker.state.value,
        "policy_versions": _versions(app),
    }
    await send_json(responder, 200 if not problems else 503, json.dumps(body).encode(), [])


def _versions(app: GatewayApp) -> dict[str, str]:
    try:
        return dict(app.policy.versions)
    except Exception:
        return {}


async def metrics(request: Request, responder: Responder) -> None:
    app = _app(request)
    app.set_breaker_gauges()
    body = generate_latest(app.metrics.registry)
    await responder.start(
        200,
        [
            (b"content-type", CONTENT_TYPE_LATEST.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
    )
    await responder.body(body)


async def gateway_status(request: Request, responder: Responder) -> None:
    app = _app(request)
    breaker = app.breaker
    body = {
        "environment": app.settings.environment,
        "sea_env": app.settings.sea_env,
        "fail_mode": app.settings.fail_mode,
        "admission": app.admission.stats(),
        "backends": app.health.status(),
        "circuit_breaker": {
            "name": breaker.name,
            "state": breaker.state.value,
            "failure_count": breaker.failure_count,
            "failure_threshold": breaker.failure_threshold,
            "reset_timeout_s": breaker.reset_timeout_s,
            "retry_after_s": round(breaker.retry_after_s(), 3),
        },
        "policies": {
            "versions": _versions(app),
            "modes": {k: v.get("mode") for k, v in sorted(app.settings.policies.items())},
        },
        "rate_limit": {
            "requests_per_minute": app.settings.requests_per_minute,
            "tokens_per_minute": app.settings.tokens_per_minute,
            "store": "redis" if app.limiter is not None else None,
            "store_breaker": app.redis_breaker.state.value,
        },
    }
    await send_json(responder, 200, json.dumps(body).encode(), [])


async def hot_reload_status(request: Request, responder: Responder) -> None:
    app = _app(request)
    try:
        status = dict(app.policy.status())
    except Exception as exc:
        status = {"last_error": f"status unavailable ({type(exc).__name__})"}
    status.update(app.reload_state)
    # The gateway does the reloading (a new store per bundle), so the last error is its own.
    status["last_error"] = app.reload_error or status.get("last_error")
    status["interval_s"] = app.settings.reload_interval_s
    await send_json(responder, 200, json.dumps(status, default=str).encode(), [])
