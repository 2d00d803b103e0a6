"""Client for applications: chat completions through the policy gateway, or straight to the
LiteLLM proxy when the gateway is switched off (dual-mode routing), behind the same circuit
breaker the gateway uses. Fail mode `closed` never calls the model around an unavailable gateway.

Async first (`HttpPolicyGatewayClient`); `SyncPolicyGatewayClient` is a thin blocking wrapper.
The TypeScript twin is clients/typescript/src/policy-gateway.adapter.ts.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self, cast

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from opentelemetry import propagate

from runtime.breaker import CircuitBreaker, CircuitOpenError
from runtime.telemetry import breaker_event_listener, emit_event

DEFAULT_POLICY_GATEWAY_URL = "http://policy-gateway:8080/v1"
DEFAULT_LLM_PROVIDER_URL = "http://llm-provider:8001/v1"
BYPASS_EVENT = "policy_gateway.bypass"

FailMode = Literal["closed", "open"]
Json = dict[str, Any]


# --- errors ------------------------------------------------------------------------------------


class PolicyGatewayError(Exception):
    """Base of everything this client raises on purpose."""


class PolicyGatewayConfigError(PolicyGatewayError, ValueError):
    """The configuration is unusable (for example fail mode `open` in production)."""


class PolicyGatewayUnavailable(PolicyGatewayError):
    """The gateway cannot be used and fail mode `closed` forbids going around it."""

    def __init__(self, reason: str, retry_after_s: float) -> None:
        super().__init__(f"policy gateway unavailable ({reason}); retry after {retry_after_s:.1f} s")
        self.reason = reason
        self.retry_after_s = retry_after_s


class PolicyViolation(PolicyGatewayError):
    """A policy blocked the request or its answer."""

    def __init__(
        self,
        *,
        status: int,
        message: str,
        policy: str,
        policy_version: str,
        categories: tuple[str, ...],
        code: str,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.policy = policy
        self.policy_version = policy_version
        self.categories = categories
        self.code = code


class UpstreamHTTPError(PolicyGatewayError):
    """Any other non-2xx answer: bad request, auth, rate limit, a provider error passed through."""

    def __init__(self, status: int, message: str, type_: str, code: str, retry_after_s: float | None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.type = type_
        self.code = code
        self.retry_after_s = retry_after_s


class LlmProviderUnavailable(PolicyGatewayError):
    """The LiteLLM proxy could not be reached on the direct route (gateway off, or a bypass)."""


# --- configuration -----------------------------------------------------------------------------

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _parse_bool(name: str, raw: str | None, default: bool) -> bool:
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise PolicyGatewayConfigError(f"{name}={raw} is not a boolean (use true or false)")


def _parse_fail_mode(raw: str) -> FailMode:
    value = raw.strip().lower()
    if value == "closed":
        return "closed"
    if value == "open":
        return "open"
    raise PolicyGatewayConfigError(f"POLICY_GATEWAY_FAIL_MODE={raw} is not 'closed' or 'open'")


@dataclass(frozen=True)
class ClientConfig:
    enable_policy_gateway: bool
    policy_gateway_url: str = DEFAULT_POLICY_GATEWAY_URL
    llm_provider_url: str = DEFAULT_LLM_PROVIDER_URL
    fail_mode: FailMode = "closed"
    sea_env: str | None = None
    api_key: str | None = None  # presented to the gateway
    provider_api_key: str | None = None  # presented to LiteLLM on the direct route
    timeout_s: float = 60.0
    failure_threshold: int = 5
    reset_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.fail_mode not in ("closed", "open"):
            raise PolicyGatewayConfigError(f"fail_mode {self.fail_mode!r} is not closed or open")
        if self.fail_mode == "open" and self.sea_env == "production":
            raise PolicyGatewayConfigError(
                "POLICY_GATEWAY_FAIL_MODE=open is not allowed with SEA_ENV=production: production "
                "must fail closed (unset POLICY_GATEWAY_FAIL_MODE or set it to closed)"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, settings_path: Path | None = None) -> ClientConfig:
        """The dual-mode routing variables of generated/<env>/.env.example; values not set fall
        back to the compiled generated/<env>/gateway.json when `settings_path` is given."""
        env = os.environ if environ is None else environ
        compiled: Json = {}
        if settings_path is not None:
            compiled = json.loads(settings_path.read_text(encoding="utf-8"))
        breaker = compiled.get("circuit_breaker") or {}
        fail_mode = env.get("POLICY_GATEWAY_FAIL_MODE") or compiled.get("fail_mode") or "closed"
        return cls(
            enable_policy_gateway=_parse_bool(
                "LLM_ENABLE_POLICY_GATEWAY",
                env.get("LLM_ENABLE_POLICY_GATEWAY"),
                bool(compiled.get("enable_policy_gateway", False)),
            ),
            policy_gateway_url=env.get("LLM_POLICY_GATEWAY_URL") or DEFAULT_POLICY_GATEWAY_URL,
            llm_provider_url=env.get("LLM_PROVIDER_URL")
            or compiled.get("llm_provider_url")
            or DEFAULT_LLM_PROVIDER_URL,
            fail_mode=_parse_fail_mode(fail_mode),
            sea_env=env.get("SEA_ENV") or compiled.get("sea_env"),
            api_key=env.get("LLM_POLICY_GATEWAY_API_KEY") or None,
            provider_api_key=env.get("LLM_PROVIDER_API_KEY") or None,
            failure_threshold=int(breaker.get("failure_threshold", 5)),
            reset_timeout_s=float(breaker.get("reset_timeout_s", 30.0)),
        )


# --- error bodies ------------------------------------------------------------------------------


def _as_dict(value: object) -> Json | None:
    return value if isinstance(value, dict) else None


def error_from_body(status: int, payload: object, retry_after_s: float | None = None) -> PolicyGatewayError:
    """A typed error from an OpenAI-style error body. The gateway answers `{"error": {...}}`;
    the LiteLLM proxy running the in-proxy guardrail wraps the same object as
    `{"error": {..., "provider_specific_fields": {"error": {...}}}}`, so a block on either route
    raises PolicyViolation."""
    top = _as_dict(payload) or {}
    error = _as_dict(top.get("error")) or _as_dict(top.get("detail")) or top
    wrapped = _as_dict(error.get("provider_specific_fields")) or {}
    inner = _as_dict(wrapped.get("error"))
    if inner is not None and inner.get("type") == "policy_violation":
        error = inner
    type_ = str(error.get("type") or "")
    message = str(error.get("message") or f"HTTP {status}")
    code = str(error.get("code") or "")
    if type_ == "policy_violation":
        return PolicyViolation(
            status=status,
            message=message,
            policy=str(error.get("policy") or ""),
            policy_version=str(error.get("policy_version") or ""),
            categories=tuple(str(c) for c in error.get("categories") or ()),
            code=code,
        )
    return UpstreamHTTPError(status, message, type_, code, retry_after_s)


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None


async def _error_from_response(response: httpx.Response) -> PolicyGatewayError:
    raw = await response.aread()
    if raw.startswith(b"data:"):
        # A stream refused before its first chunk: LiteLLM sends the error as an event.
        raw = raw.split(b"\n", 1)[0][5:]
    try:
        payload: object = json.loads(raw)
    except ValueError:
        payload = {"error": {"message": raw[:200].decode("utf-8", "replace")}}
    return error_from_body(response.status_code, payload, _retry_after(response))


def _describe(exc: httpx.TransportError) -> str:
    return "timeout" if isinstance(exc, httpx.TimeoutException) else "connect_error"


# --- the port and its HTTP implementation ------------------------------------------------------


class PolicyGatewayPort(Protocol):
    """What an application needs from the gateway; fakes in application tests implement this."""

    async def chat_completions(self, request: Mapping[str, Any]) -> Json: ...

    def stream_chat_completions(self, request: Mapping[str, Any]) -> AsyncIterator[Json]: ...

    async def aclose(self) -> None: ...


class HttpPolicyGatewayClient:
    """PolicyGatewayPort over HTTP. One instance per process: the breaker state lives in it."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_bypass: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.breaker = breaker or CircuitBreaker(
            "policy-gateway-client",
            config.failure_threshold,
            config.reset_timeout_s,
            listeners=[breaker_event_listener()],
        )
        self._http = httpx.AsyncClient(transport=transport, timeout=config.timeout_s)
        self._on_bypass = on_bypass

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        settings_path: Path | None = None,
        **kwargs: Any,
    ) -> HttpPolicyGatewayClient:
        return cls(ClientConfig.from_env(environ, settings_path=settings_path), **kwargs)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def chat_completions(self, request: Mapping[str, Any]) -> Json:
        response = await self._send({**request, "stream": False})
        try:
            body = await response.aread()
        except httpx.TransportError as exc:
            raise PolicyGatewayError(f"the answer was cut off ({_describe(exc)})") from exc
        finally:
            await response.aclose()
        result: Json = json.loads(body)
        return result

    async def stream_chat_completions(self, request: Mapping[str, Any]) -> AsyncGenerator[Json, None]:
        response = await self._send({**request, "stream": True})
        try:
            async for chunk in _event_stream(response):
                yield chunk
        except httpx.TransportError as exc:
            raise PolicyGatewayError(f"the stream was cut off ({_describe(exc)})") from exc
        finally:
            await response.aclose()

    async def _send(self, body: Json) -> httpx.Response:
        """Picks the route, applies breaker and fail mode; returns an open 2xx response."""
        if not self.config.enable_policy_gateway:
            return await self._call_direct(body)
        try:
            self.breaker.before_call()
        except CircuitOpenError as exc:
            return await self._gateway_unavailable(body, "circuit_open", exc.retry_after_s)
        try:
            response = await self._post(self.config.policy_gateway_url, body, self.config.api_key)
        except httpx.TransportError as exc:
            self.breaker.record_failure()
            return await self._gateway_unavailable(body, _describe(exc), self.breaker.retry_after_s())
        if response.status_code >= 500:
            # The gateway, or the provider behind it, is failing (its own fail-closed 503 too).
            self.breaker.record_failure()
            await response.aclose()
            retry_after = max(_retry_after(response) or 0.0, self.breaker.retry_after_s())
            return await self._gateway_unavailable(body, f"http_{response.status_code}", retry_after)
        # Any answer below 500 proves the gateway works, even when it refuses the request.
        self.breaker.record_success()
        if response.is_success:
            return response
        try:
            raise await _error_from_response(response)
        finally:
            await response.aclose()

    async def _gateway_unavailable(self, body: Json, reason: str, retry_after_s: float) -> httpx.Response:
        if self.config.fail_mode == "closed":
            raise PolicyGatewayUnavailable(reason, retry_after_s)
        emit_event(BYPASS_EVENT, {"reason": reason, "fail_mode": "open", "timestamp": time.time()})
        if self._on_bypass is not None:
            self._on_bypass(reason)
        return await self._call_direct(body)

    async def _call_direct(self, body: Json) -> httpx.Response:
        try:
            response = await self._post(self.config.llm_provider_url, body, self.config.provider_api_key)
        except httpx.TransportError as exc:
            raise LlmProviderUnavailable(f"LiteLLM proxy unreachable ({_describe(exc)})") from exc
        if response.is_success:
            return response
        try:
            raise await _error_from_response(response)
        finally:
            await response.aclose()

    async def _post(self, base_url: str, body: Json, api_key: str | None) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if body.get("stream"):
            headers["accept"] = "text/event-stream"
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        # W3C trace context, so the gateway's spans join the caller's trace.
        propagate.inject(headers)
        request = self._http.build_request(
            "POST", f"{base_url.rstrip('/')}/chat/completions", json=body, headers=headers
        )
        return await self._http.send(request, stream=True)


async def _event_stream(response: httpx.Response) -> AsyncIterator[Json]:
    """Chunks of an OpenAI-style server-sent event stream; `[DONE]` ends it, an error throws."""
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
            continue
        if line or not data:
            continue
        event, data = "\n".join(data), []
        if event == "[DONE]":
            return
        chunk: Json = json.loads(event)
        if _as_dict(chunk.get("error")) is not None:
            # A policy can block mid-stream (output policy) after the status line said 200.
            blocked = error_from_body(400, chunk)
            raise blocked if isinstance(blocked, PolicyViolation) else error_from_body(502, chunk)
        yield chunk


# --- the blocking wrapper ----------------------------------------------------------------------

_END = object()


async def _next_or_end(iterator: AsyncIterator[Json]) -> object:
    # StopAsyncIteration must not cross the portal's thread boundary as an exception.
    try:
        return await anext(iterator)
    except StopAsyncIteration:
        return _END


class SyncPolicyGatewayClient:
    """Blocking face of HttpPolicyGatewayClient for code without an event loop. The async client
    runs on one event loop in a helper thread (an anyio blocking portal), so its connection pool
    and breaker are reused across calls."""

    def __init__(self, config: ClientConfig, **kwargs: Any) -> None:
        self._portal_cm = start_blocking_portal()
        self._portal: BlockingPortal = self._portal_cm.__enter__()
        self._client = HttpPolicyGatewayClient(config, **kwargs)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        settings_path: Path | None = None,
        **kwargs: Any,
    ) -> SyncPolicyGatewayClient:
        return cls(ClientConfig.from_env(environ, settings_path=settings_path), **kwargs)

    @property
    def breaker(self) -> CircuitBreaker:
        return self._client.breaker

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._portal.call(self._client.aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)

    def chat_completions(self, request: Mapping[str, Any]) -> Json:
        return self._portal.call(self._client.chat_completions, request)

    def stream_chat_completions(self, request: Mapping[str, Any]) -> Iterator[Json]:
        stream = self._client.stream_chat_completions(request)
        try:
            while (chunk := self._portal.call(_next_or_end, stream)) is not _END:
                yield cast(Json, chunk)
        finally:
            self._portal.call(stream.aclose)
