"""Which backend class serves a model, whether it has the capability asked for, and whether it is
ready (seed 003): deterministic routing from gateway.json, no silent fallback, no guessing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import aiohttp

from runtime.errors import ApiError, retry_after
from runtime.settings import BackendSettings, ModelSettings

__all__ = ["BACKEND_RETRY_AFTER_S", "BackendRouter", "HealthChecker", "Route"]

BACKEND_RETRY_AFTER_S = 30
_log = logging.getLogger("policy_gateway.backends")


@dataclass(frozen=True)
class Route:
    model: str
    backend: str
    reason: str


class BackendRouter:
    def __init__(self, backends: Mapping[str, BackendSettings], models: Mapping[str, ModelSettings]) -> None:
        self.backends = backends
        self.models = models
        # seed 003's legacy names (ollama -> gpu_fast): clients that still ask for a backend by its
        # old name get the backend's first model of the capability they need
        self._legacy = {name: b.name for b in backends.values() for name in b.legacy_names}

    def resolve(self, model: str, capability: str) -> Route:
        """The route for `model` on an endpoint of `capability`, or a 4xx ApiError."""
        spec = self.models.get(model)
        if spec is None and model in self._legacy:
            return self._legacy_route(model, capability)
        if spec is None:
            available = ", ".join(sorted(self.models)) or "none"
            raise ApiError(
                404,
                f"unknown model {model!r}; available models: {available} (see GET /v1/models)",
                code="model_not_found",
                param="model",
            )
        backend = self.backends.get(spec.backend)
        supported = list(backend.capabilities) if backend else [spec.capability]
        if spec.capability != capability or capability not in supported:
            raise _not_capable(model, spec.backend, supported, capability)
        return Route(model, spec.backend, f"model-map:{model}->{spec.backend}")

    def answered_by(self, asked: str, model_id: str | None) -> Route | None:
        """The route of the model LiteLLM says answered (its model_info.id is the spec's model name),
        or None when it names no model of this environment (nothing to correct)."""
        spec = self.models.get(model_id or "")
        if spec is None:
            return None
        reason = f"model-map:{asked}->{spec.backend}" if spec.name == asked else f"fallback:{asked}->{spec.name}"
        return Route(spec.name, spec.backend, reason)

    def _legacy_route(self, name: str, capability: str) -> Route:
        backend = self._legacy[name]
        found = next((m for m in self.models.values() if m.backend == backend and m.capability == capability), None)
        if found is None:
            raise _not_capable(name, backend, list(self.backends[backend].capabilities), capability)
        return Route(found.name, backend, f"legacy-name:{name}->{backend}")


def _not_capable(model: str, backend: str, supported: list[str], capability: str) -> ApiError:
    return ApiError(
        400,
        f"model {model!r} runs on backend {backend!r}, which supports {', '.join(supported)}; "
        f"this endpoint needs {capability}: pick a {capability} model (GET /v1/models)",
        code="capability_not_supported",
        param="model",
        supported_capabilities=supported,
    )


class HealthChecker:
    """Probes each backend's readiness endpoint in the background. Optimistic at start (a backend
    is ready until a probe says otherwise), so a restart does not refuse traffic for 30 s."""

    def __init__(
        self,
        backends: Mapping[str, BackendSettings],
        interval_s: float,
        *,
        timeout_s: float = 2.0,
    ) -> None:
        self._targets = {
            name: urljoin(b.base_url.rstrip("/") + "/", b.health_ready)
            for name, b in backends.items()
            if b.health_ready
        }
        self._interval = interval_s
        self._timeout = timeout_s
        self._status: dict[str, dict[str, Any]] = {
            name: {"ready": True, "checked_at": None, "error": None} for name in backends
        }
        self._task: asyncio.Task[None] | None = None

    def is_ready(self, backend: str) -> bool:
        entry = self._status.get(backend)
        return entry is None or bool(entry["ready"])

    def require_ready(self, backend: str) -> None:
        if not self.is_ready(backend):
            raise ApiError(
                503,
                f"backend {backend!r} is not ready; retry in {BACKEND_RETRY_AFTER_S} s",
                type_="service_unavailable",
                code="backend_not_ready",
                headers=[retry_after(BACKEND_RETRY_AFTER_S)],
            )

    def status(self) -> dict[str, dict[str, Any]]:
        return {name: dict(entry) for name, entry in sorted(self._status.items())}

    async def check_once(self, session: aiohttp.ClientSession) -> None:
        async def probe(name: str, url: str) -> None:
            error = None
            try:
                timeout = aiohttp.ClientTimeout(total=self._timeout)
                async with session.get(url, timeout=timeout) as resp:
                    if resp.status != 200:
                        error = f"readiness returned HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"readiness probe failed: {type(exc).__name__}"
            was_ready = self._status[name]["ready"]
            self._status[name] = {"ready": error is None, "checked_at": time.time(), "error": error}
            if was_ready != (error is None):
                _log.warning(
                    "backend readiness changed",
                    extra={"backend": name, "ready": error is None, "reason": error},
                )

        await asyncio.gather(*(probe(n, u) for n, u in self._targets.items()))

    def start(self, session: aiohttp.ClientSession) -> None:
        if self._interval <= 0 or not self._targets:
            return

        async def loop() -> None:
            while True:
                await self.check_once(session)
                await asyncio.sleep(self._interval)

        self._task = asyncio.create_task(loop(), name="backend-health")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
