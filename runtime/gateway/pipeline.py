"""The guarded request path, written once for every endpoint: one Exchange per request goes through

    auth → per-key rate limit → body size → parse → capability gating (and the images payload
    policy) → backend readiness and admission → prompt policy → upstream through the breaker →
    output policy (whole, or inside the stream) → usage charge → answer with the decision headers

What differs per endpoint is data from runtime.endpoints (where the texts are, what a stream looks
like, the capability, how usage is counted). Every string that goes upstream was read by the
prompt policy (the body, re-serialised from what was parsed; path and query parameters;
client headers passed on) and every string that comes back by the output policy, or the request is
refused. A step refuses by raising ApiError; the app turns it into the endpoint's error body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
import orjson
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from runtime.breaker import CircuitOpenError
from runtime.endpoints import (
    Endpoint,
    JsonError,
    Line,
    LineError,
    Match,
    SchemaError,
    Text,
    Usage,
    answer_input,
    loads,
    prompt_input,
    read_form,
    read_jsonl,
    read_params,
    read_request,
    validate_form,
    validate_request,
)
from runtime.errors import ApiError, bad_answer, retry_after
from runtime.gateway.answers import Answer, judge_answer, parse_answer
from runtime.gateway.asgi import Request, Responder
from runtime.gateway.context import Context
from runtime.gateway.forms import Form, parse_form, write_form
from runtime.gateway.payload import check_images_answer, images_request
from runtime.gateway.ratelimit import RedisUnavailableError
from runtime.gateway.streaming import SseFilter
from runtime.gateway.upstream import forward_headers
from runtime.identity_header import IDENTITY_HEADER
from runtime.policy.decision import Verdict, blocked_error, decision_headers
from runtime.telemetry import emit_event

__all__ = ["Exchange", "handle"]

_log = logging.getLogger("policy_gateway.access")
# Client headers passed to the upstream as they are (after the prompt policy read them).
_PASSED_HEADERS = ("x-request-id",)


class Exchange:
    """One request on its way through the pipeline."""

    def __init__(self, ctx: Context, request: Request, responder: Responder, match: Match) -> None:
        self.ctx = ctx
        self.request = request
        self.responder = responder
        self.match = match
        self.endpoint: Endpoint = match.endpoint
        # One store for the whole request: a hot reload swaps ctx.policy, and this request still
        # finishes (output policy included) on the bundle it started with.
        self.engine = ctx.policy
        self.log: dict[str, Any] = {"route": request.path, "endpoint": self.endpoint.name}
        self.key_id = ""
        self.client: str | None = None  # the specs' name of the key: its identity in LiteLLM
        self.raw = b""
        self.body: Any = None  # the parsed JSON body
        self.form: Form | None = None
        self.lines: list[Line] = []  # the requests of an uploaded batch input
        self.query = parse_qsl(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        self.model: str | None = None
        self.backend: str | None = None
        self.stream = False
        self.verdicts: list[Verdict] = []
        self.debug: list[tuple[bytes, bytes]] = []
        self.answered_by: str | None = None  # the spec model LiteLLM says answered (a fallback, maybe)
        self.usage: Usage | None = None
        self.broken: ApiError | None = None  # the upstream broke off a stream
        self.gone: asyncio.Future[None] | None = None  # done when the client hung up

    @property
    def generates(self) -> bool:
        """The route carries a body the policy reads (else only its path and query)."""
        return self.match.route.kind == "generate"


def _cancel_when_gone(ex: Exchange) -> None:
    """A client that hangs up cancels its request at once: the upstream call is dropped and the
    admission slot freed (the `finally`s on the way out), whether or not an answer has started."""
    task = asyncio.current_task()
    ex.gone = asyncio.ensure_future(_disconnected(ex.request))
    ex.gone.add_done_callback(lambda done: task.cancel() if task is not None and not done.cancelled() else None)


async def handle(ctx: Context, request: Request, responder: Responder, match: Match) -> None:
    ex = Exchange(ctx, request, responder, match)
    started = time.perf_counter()
    parent = extract(request.headers)
    span = ctx.tracer.start_span(
        f"{request.scope['method']} {request.path}",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": request.scope["method"], "url.path": request.path},
    )
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    status = 500
    try:
        status = await _run(ex, span)
    except asyncio.CancelledError:
        if ex.gone is None or not ex.gone.done():
            raise  # the server is shutting down, not the client hanging up
        status = 499
        ex.log["error"] = "client_closed"
    except ApiError as exc:
        status = exc.status
        ex.log["error"] = exc.code
        span.set_attribute("error.type", exc.code)
        if exc.type == "policy_violation" and ex.endpoint.in_band_refusal is not None and not responder.started:
            # an API that reports refusals in a 200 answer (MCP): the decision headers say block
            body = ex.endpoint.in_band_refusal(ex.body, exc)
            await _send(ex, 200, "application/json", body, exc.headers)
            status = 200
            return
        raise
    except Exception as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR))
        raise
    finally:
        if ex.gone is not None:
            ex.gone.cancel()
        span.set_attribute("http.response.status_code", status)
        elapsed = time.perf_counter() - started
        ctx.metrics.requests.labels(ex.endpoint.name, str(status)).inc()
        ctx.metrics.request_duration.labels(ex.endpoint.name).observe(elapsed)
        _log.info("request", extra={"status": status, "duration_ms": round(elapsed * 1000, 2), **ex.log})
        span.end()
        otel_context.detach(token)


async def _run(ex: Exchange, span: Span) -> int:
    authenticate(ex)
    await rate_limit(ex)
    await read_body(ex)
    _cancel_when_gone(ex)
    parse(ex)
    gate(ex, span)
    async with admitted(ex):
        await check_prompt(ex)
        status = await forward(ex)
        if ex.gone is not None:
            # the answer is out: a client hanging up now cancels nothing (the slot's release
            # and the usage charge still run)
            ex.gone.cancel()
    await charge(ex)
    return status


# --- the steps, in order ---------------------------------------------------------------------


def authenticate(ex: Exchange) -> None:
    ex.key_id = ex.ctx.auth.authenticate(ex.request.headers)
    ex.client = ex.ctx.auth.client_name(ex.key_id)
    ex.log["key_id"] = ex.key_id
    if ex.client is not None:
        ex.log["client"] = ex.client


async def rate_limit(ex: Exchange) -> None:
    ctx = ex.ctx
    if ctx.limiter is None:
        return
    try:
        ctx.redis_breaker.before_call()
        limit = await ctx.limiter.admit(ex.key_id)
    except (RedisUnavailableError, CircuitOpenError) as exc:
        if isinstance(exc, RedisUnavailableError):
            ctx.redis_breaker.record_failure()
        _redis_down(ex, "rate_limit")
        return
    ctx.redis_breaker.record_success()
    ex.responder.extra_headers.extend(limit.headers())
    if not limit.allowed:
        ctx.metrics.rate_limited.labels(limit.limit_name).inc()
        what = "requests" if limit.limit_name == "requests" else "tokens"
        raise ApiError(
            429,
            f"rate limit of {limit.limit} {what} per minute reached for this API key; "
            f"retry after {max(1, math.ceil(limit.retry_after_s))} s",
            type_="rate_limit_error",
            code="rate_limit_exceeded",
        )


def _redis_down(ex: Exchange, purpose: str) -> None:
    """Redis could not answer a limit decision: refuse (closed) or pass loudly (open; admission
    then counts in this replica only)."""
    ex.ctx.metrics.redis_unavailable.labels(purpose).inc()
    if ex.ctx.settings.fail_mode == "open":
        ex.ctx.metrics.fail_open.labels(f"redis_{purpose}").inc()
        emit_event("policy_gateway.fail_open", {"reason": f"redis_unavailable_{purpose}"})
        return
    what = "rate-limit" if purpose == "rate_limit" else "admission"
    raise ApiError(
        503,
        f"the {what} store (Redis) is unreachable, so the request was refused "
        "(POLICY_GATEWAY_FAIL_MODE=closed); retry shortly",
        type_="service_unavailable",
        code=f"{what.replace('-', '_')}_store_unavailable",
        headers=[retry_after(5)],
    )


async def read_body(ex: Exchange) -> None:
    if ex.generates and ex.endpoint.body != "none":
        ex.raw = await ex.request.body(ex.ctx.settings.max_body_bytes)


def parse(ex: Exchange) -> None:
    """The body as the endpoint takes it, checked against the endpoint's schema before any policy
    runs: strict JSON (runtime/endpoints/_json.py) or a multipart form (a batch input read line by
    line); whether the client asks for a stream. A client mistake is a 400 naming the field."""
    if not ex.generates or ex.endpoint.body == "none":
        return
    strict = _prompt_enforces(ex)
    if ex.endpoint.body == "multipart":
        ex.form = parse_form(ex.request.headers.get("content-type", ""), ex.raw)
        try:
            validate_form(ex.endpoint, ex.form.fields, ex.form.files)
        except SchemaError as exc:
            raise _invalid(exc) from None
        upload = ex.endpoint.multipart
        if upload is not None and upload.jsonl_when(ex.form.as_dict()):
            try:
                ex.lines = [line for f in ex.form.files for line in read_jsonl(f.data, strict=strict)]
            except LineError as exc:
                raise ApiError(400, str(exc), code="invalid_batch_input", param="file") from None
        ex.body = ex.form.as_dict()
    else:
        try:
            ex.body = loads(ex.raw)
        except JsonError as exc:
            raise ApiError(
                400, f"{exc.message}; send strict JSON (RFC 8259)", code="invalid_json", param=exc.param
            ) from None
        if not isinstance(ex.body, dict | list):
            raise ApiError(400, "request body must be a JSON object", code="invalid_request")
        try:
            validate_request(ex.endpoint, ex.body, strict=strict)
        except SchemaError as exc:
            raise _invalid(exc) from None
    ex.stream = ex.endpoint.stream is not None and isinstance(ex.body, dict) and ex.endpoint.streams(ex.body)


def _invalid(exc: SchemaError) -> ApiError:
    return ApiError(
        400,
        f"{exc.message} (the request schemas: GET /openapi.json)",
        code="invalid_request",
        param=exc.param,
    )


def _prompt_enforces(ex: Exchange) -> bool:
    """Whether content the readers do not know (a content-part type outside the schema's enum) is
    refused: when the prompt policy enforces. gateway.json says which mode was compiled; the loaded
    bundle has the last word (a hot reload may have moved it to enforce)."""
    if ex.ctx.settings.policies.get("prompt", {}).get("mode", "enforce") not in ("off", "monitor"):
        return True
    return ex.ctx.mode(ex.engine, "prompt") not in ("off", "monitor")


def gate(ex: Exchange, span: Span) -> None:
    """The model (or the MCP server, the agent) must exist in this environment and offer what the
    endpoint needs; images follow the backend's payload policy."""
    ctx, endpoint = ex.ctx, ex.endpoint
    for line in ex.lines:
        model = line.body.get("model")
        if not isinstance(model, str) or not model:
            raise ApiError(400, f"line {line.number} of the batch input names no model", code="invalid_batch_input")
        try:
            ctx.router.resolve(model, line.endpoint.capability or "")
        except ApiError as exc:
            raise ApiError(exc.status, f"line {line.number} of the batch input: {exc.message}", code=exc.code) from None
    if endpoint.capability == "a2a":
        _known_target(ex.match.params.get("agent_id", ""), ctx.settings.agents, "agent")
    if endpoint.capability == "mcp" and "/" in ex.match.params.get("rest", ""):
        _known_target(ex.match.params["rest"].split("/", 1)[0], (*ctx.settings.mcp_servers, "mcp"), "MCP server")
    if endpoint.model_field is None or not ex.generates or not isinstance(ex.body, dict):
        return
    model = ex.body.get(endpoint.model_field)
    if not isinstance(model, str) or not model:
        raise ApiError(
            400, "`model` is required: a model name from GET /v1/models", code="invalid_request", param="model"
        )
    route = ctx.router.resolve(model, endpoint.capability or "")
    if route.model != model:  # a legacy backend name, resolved
        _set_model(ex, route.model)
    ex.model, ex.backend = route.model, route.backend
    ex.log.update(model=route.model, backend=route.backend)
    span.set_attribute("gen_ai.request.model", route.model)
    ex.debug = [(b"x-backend-used", route.backend.encode()), (b"x-router-reason", route.reason.encode())]
    if endpoint.capability == "images":
        images_request(_images_params(ex), ctx.router.backends[route.backend])


def _known_target(name: str, known: tuple[str, ...], what: str) -> None:
    if name not in known:
        raise ApiError(
            404, f"unknown {what} {name!r}; this environment serves: {', '.join(known) or 'none'}", code="not_found"
        )


def _set_model(ex: Exchange, model: str) -> None:
    ex.body[ex.endpoint.model_field] = model
    if ex.form is not None:
        ex.form.fields = [(k, model if k == ex.endpoint.model_field else v) for k, v in ex.form.fields]


class _FormParams(dict[str, Any]):
    """The images payload policy reads and sets form fields through a dict."""

    def __init__(self, form: Form) -> None:
        super().__init__(form.as_dict())
        self._form = form

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._form.fields.append((key, str(value)))


def _images_params(ex: Exchange) -> Any:
    return _FormParams(ex.form) if ex.form is not None else ex.body


@contextlib.asynccontextmanager
async def admitted(ex: Exchange) -> AsyncIterator[None]:
    """The backend must be ready and have a free slot for this capability (429 when it has none);
    the slot is held until the answer is out."""
    if ex.backend is None:
        yield
        return
    ctx, capability = ex.ctx, ex.endpoint.capability or ""
    ctx.health.require_ready(ex.backend)
    async with ctx.admission.slot(ex.backend, capability, store_down=lambda: _redis_down(ex, "admission")):
        ctx.metrics.inflight.labels(ex.backend, capability).inc()
        try:
            yield
        finally:
            ctx.metrics.inflight.labels(ex.backend, capability).dec()


async def check_prompt(ex: Exchange) -> None:
    """The prompt policy on everything the request sends upstream; each line of a batch input is
    judged on its own and a refusal names its line. A policy that is off reads nothing."""
    if ex.ctx.mode(ex.engine, "prompt") == "off":
        await _judge(ex, {"endpoint": ex.endpoint.name, "texts": []})
        return
    reading = read_params(ex.match.params, ex.query)
    for name in (*_PASSED_HEADERS, *ex.endpoint.forward_headers):
        if name in ex.request.headers:
            reading.texts.append(Text(("header", name), ex.request.headers[name]))
    if ex.form is not None:
        form = ex.form if not ex.lines else Form(ex.form.fields, [])
        reading.extend(read_form(ex.endpoint, form.fields, form.files))
    elif ex.body is not None:
        reading.extend(read_request(ex.endpoint, ex.body))
    if reading.texts or reading.unreadable:
        await _judge(ex, prompt_input(ex.endpoint, ex.body if isinstance(ex.body, dict) else {}, reading))
    for line in ex.lines:
        await _judge(ex, prompt_input(line.endpoint, line.body, line.reading), line=line.number)
    if ex.lines:
        ex.log["batch_lines"] = len(ex.lines)


async def _judge(ex: Exchange, input: dict[str, Any], *, line: int | None = None) -> Verdict:
    verdict = await ex.ctx.decide(ex.engine, "prompt", input)
    ex.verdicts.append(verdict)
    ex.log["prompt_decision"] = verdict.action
    if not verdict.passes:
        ex.log["categories"] = list(verdict.categories)
        error = blocked_error(verdict)
        if line is not None:
            error.message = f"line {line} of the batch input: {error.message}"
            error.extra["line"] = line
        raise error
    return verdict


async def forward(ex: Exchange) -> int:
    """Send what the policy read upstream through the breaker, and answer with what the output
    policy let through."""
    ctx, endpoint = ex.ctx, ex.endpoint
    body, content_type = _upstream_body(ex)
    headers = forward_headers(ex.request.headers, ex.request.client_host, ex.request.scheme, ctx.upstream.api_key)
    for name in (*_PASSED_HEADERS, *endpoint.forward_headers):
        if name in ex.request.headers:
            headers[name] = ex.request.headers[name]
    if content_type:
        headers["content-type"] = content_type
    # LiteLLM runs the call as the client's key (runtime.litellm_identity); only the gateway
    # names it: whatever a client sent under that name is dropped
    headers.pop(IDENTITY_HEADER, None)
    if ex.client is not None:
        headers[IDENTITY_HEADER] = ex.client
    method = ex.request.scope["method"]
    name = f"{endpoint.name} {ex.model or ''}".strip()
    attributes = {"gen_ai.operation.name": endpoint.name}
    if ex.model:
        attributes["gen_ai.request.model"] = ex.model
    with ctx.tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes) as span:
        inject(headers)  # the upstream call's own span
        resp, started = await ctx.upstream.open(
            method, ex.request.path, body=body, headers=headers, query=urlencode(ex.query), stream=ex.stream
        )
        try:
            span.set_attribute("http.response.status_code", resp.status)
            if resp.status >= 500:
                raise ApiError(
                    502,
                    f"the model provider failed (HTTP {resp.status}); retry later",
                    type_="service_unavailable",
                    code="upstream_error",
                    upstream_status=resp.status,
                )
            if 300 <= resp.status < 400:
                # never followed: it would send the request (and its prompt) where the specs do not say
                raise ApiError(
                    502,
                    f"the model provider answered with a redirect (HTTP {resp.status}), which is not followed",
                    type_="service_unavailable",
                    code="upstream_redirect",
                )
            content = resp.headers.get("content-type", "")
            passed = _returned_headers(ex, resp.headers)
            _record_answered_by(ex, resp.headers)
            if ex.stream and resp.status < 300 and content.startswith("text/event-stream"):
                status = await _stream(ex, resp, passed)
                _usage_attributes(ex, span)
                return status
            payload = await ctx.upstream.read_body(resp, started, ctx.settings.max_answer_bytes)
        finally:
            resp.release()
        answer = parse_answer(
            endpoint,
            read_texts=ctx.mode(ex.engine, "output") != "off",
            status=resp.status,
            content_type=content,
            payload=payload,
            model=ex.model,
            jsonl=ex.request.path.endswith("/content"),
        )
        ex.usage = answer.usage
        _usage_attributes(ex, span)
    if resp.status >= 400 and answer.kind != "json":
        raise ApiError(
            resp.status,
            f"the model provider refused the request (HTTP {resp.status})",
            code="upstream_error",
            upstream_status=resp.status,
        )
    if ex.backend is not None and endpoint.capability == "images" and resp.status < 300:
        check_images_answer(payload, ctx.router.backends[ex.backend])
    answer = await judge_answer(ctx, ex.engine, endpoint, answer, ex.verdicts)
    await _answer(ex, answer, passed)
    return answer.status


def _upstream_body(ex: Exchange) -> tuple[bytes | None, str | None]:
    """The body the upstream gets: written from what was parsed (and read), never the raw bytes."""
    if ex.form is not None:
        if ex.lines:
            data = b"".join(orjson.dumps(line.request) + b"\n" for line in ex.lines)
            upload = ex.form.files[0]
            files = [type(upload)(upload.field, upload.filename, upload.content_type, data)]
            return write_form(Form(ex.form.fields, files))
        return write_form(ex.form)
    if ex.body is not None:
        return orjson.dumps(ex.body), "application/json"
    return None, None


def _record_answered_by(ex: Exchange, upstream: Any) -> None:
    """LiteLLM names the deployment that answered in x-litellm-model-id (the compiler writes each
    model's spec name as its model_info.id): after a fallback, the decision headers name it."""
    if ex.model is None:
        return
    route = ex.ctx.router.answered_by(ex.model, upstream.get("x-litellm-model-id"))
    if route is None:
        return
    ex.answered_by = route.model
    ex.debug = [(b"x-backend-used", route.backend.encode()), (b"x-router-reason", route.reason.encode())]
    ex.log.update(answered_by=route.model, answered_backend=route.backend)


def _returned_headers(ex: Exchange, upstream: Any) -> list[tuple[bytes, bytes]]:
    """The upstream's headers the endpoint passes back (an MCP session id): printable ASCII, or
    the answer is refused (a control character would end the header, or the response)."""
    out = []
    for name in ex.endpoint.return_headers:
        value = upstream.get(name)
        if value is None:
            continue
        if not (value.isprintable() and value.isascii() and len(value) <= 1024):
            raise bad_answer(f"a {name} header that is not printable ASCII")
        out.append((name.encode(), value.encode()))
    return out


async def _answer(ex: Exchange, answer: Answer, passed: list[tuple[bytes, bytes]]) -> None:
    if answer.verdict is not None:
        ex.verdicts.append(answer.verdict)
    headers = [*decision_headers(ex.verdicts), *ex.debug, *passed]
    model = ex.answered_by or answer.model
    if model:
        headers.append((b"x-model-used", model.encode()))
    ex.log["decision"] = headers[0][1].decode()
    await _send(ex, answer.status, answer.content_type, answer.body, headers)


async def _send(ex: Exchange, status: int, content_type: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await ex.responder.start(
        status,
        [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()), *headers],
    )
    await ex.responder.body(body)


async def _stream(ex: Exchange, resp: Any, passed: list[tuple[bytes, bytes]]) -> int:
    ctx, endpoint = ex.ctx, ex.endpoint
    assert endpoint.stream is not None

    async def check(texts: list[Text]) -> Verdict | None:
        return await ctx.decide(ex.engine, "output", answer_input(endpoint, texts, ex.model), can_redact=True)

    sse = SseFilter(
        endpoint.stream,
        check,
        endpoint.stream_error,
        observe_only=ctx.output_cannot_act(ex.engine),
        max_event_bytes=ctx.settings.max_answer_bytes,
    )
    headers = [
        (b"content-type", b"text/event-stream"),
        (b"cache-control", b"no-cache"),
        *decision_headers(ex.verdicts),
        *ex.debug,
        *passed,
    ]
    model = ex.answered_by or ex.model
    if model:
        headers.append((b"x-model-used", model.encode()))
    await ex.responder.start(200, headers)
    try:
        async for data in _chunks(ex, resp):
            out = await sse.feed(data)
            if out:
                await ex.responder.body(out, more=True)
            if sse.stopped:
                break
        end = await sse.finish()
        if ex.broken is not None and not sse.stopped:
            end += endpoint.stream_error(ex.broken)
        await ex.responder.body(end, more=False)
    finally:
        # a client that hung up cancelled this task: drop the upstream connection instead of
        # reading the answer to its end for nobody
        resp.close()
    ex.verdicts += sse.verdicts
    actions = {v.action for v in sse.verdicts}
    ex.log["decision"] = "block" if sse.stopped else ("redact" if sse.redacted else "allow")
    ex.log["output_actions"] = sorted(actions)
    ex.usage = sse.usage
    return 200


async def _chunks(ex: Exchange, resp: Any) -> AsyncIterator[bytes]:
    try:
        async for data in resp.content.iter_any():
            yield data
    except (aiohttp.ClientError, TimeoutError) as exc:  # the upstream broke off mid-answer
        error = ex.ctx.upstream.failed(exc, time.perf_counter())
        ex.log["error"] = error.code
        ex.broken = error


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _usage_attributes(ex: Exchange, span: Span) -> None:
    if ex.usage is None:
        return
    model = ex.model or ex.endpoint.name
    span.set_attributes({"gen_ai.usage.input_tokens": ex.usage[0], "gen_ai.usage.output_tokens": ex.usage[1]})
    ex.ctx.metrics.tokens.labels(model, "input").inc(ex.usage[0])
    ex.ctx.metrics.tokens.labels(model, "output").inc(ex.usage[1])


async def charge(ex: Exchange) -> None:
    """The upstream's token counts against the key's budget (after the answer: they are known then)."""
    ctx = ex.ctx
    tokens = sum(ex.usage) if ex.usage else 0
    if ctx.limiter is None or not ctx.settings.tokens_per_minute or tokens <= 0:
        return
    try:
        await ctx.limiter.charge_tokens(ex.key_id, tokens)
    except RedisUnavailableError:
        # The answer is already out; an uncharged budget is logged, not turned into an error.
        ctx.metrics.redis_unavailable.labels("token_charge").inc()
        ctx.metrics.fail_open.labels("redis_token_charge").inc()
        _log.warning("token budget not charged: Redis unavailable", extra={"key_id": ex.key_id})
