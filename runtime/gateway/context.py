"""What a request may use: settings, the limiter, the breakers, the upstream, the policy store
and the metrics. Built once by app.py; the pipeline's steps take this, not the app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry.trace import Tracer

from runtime.breaker import CircuitBreaker
from runtime.gateway.admission import AdmissionController
from runtime.gateway.auth import Authenticator
from runtime.gateway.backends import BackendRouter, HealthChecker
from runtime.gateway.ratelimit import RateLimiter
from runtime.gateway.upstream import Upstream
from runtime.policy.decision import PolicyName, Verdict, fail_open_verdict, unavailable_error, verdict
from runtime.settings import Settings
from runtime.telemetry import GatewayMetrics, emit_event

__all__ = ["Context", "PolicyEngine"]

_log = logging.getLogger("policy_gateway.policy")


class PolicyEngine(Protocol):
    """What the gateway needs from runtime.policy.PolicyStore."""

    def evaluate(self, policy: PolicyName, input: Mapping[str, Any]) -> dict[str, Any]: ...
    def mode(self, policy: PolicyName) -> str: ...
    def status(self) -> dict[str, Any]: ...
    @property
    def versions(self) -> dict[str, str]: ...


@dataclass
class Context:
    settings: Settings
    policy: PolicyEngine  # swapped by a hot reload; a request keeps the one it started with
    metrics: GatewayMetrics
    tracer: Tracer
    auth: Authenticator
    limiter: RateLimiter | None
    redis_breaker: CircuitBreaker
    breaker: CircuitBreaker
    upstream: Upstream
    router: BackendRouter
    health: HealthChecker
    admission: AdmissionController
    # Decisions run here, off the event loop (OPA's engine releases the GIL; one engine per
    # thread), so a slow decision never holds up other requests or the health checks.
    decisions: ThreadPoolExecutor

    async def decide(
        self, engine: PolicyEngine, policy: PolicyName, input: Mapping[str, Any], *, can_redact: bool = False
    ) -> Verdict:
        """One policy decision, counted and traced. Texts over the policy's size cap are refused
        without asking the engine; a decision that takes longer than the deadline counts as none.
        When no decision can be made the fail mode applies: closed raises the 503, open passes
        with an event and a metric."""
        if self.mode(engine, policy) == "off":
            # not evaluated at all: no thread, no span; counted like any decision
            off = verdict(policy, engine.evaluate(policy, input), can_redact=can_redact)
            self.metrics.decisions.labels(policy, off.mode, off.action, "none").inc()
            return off
        with self.tracer.start_as_current_span(f"policy {policy}") as span:
            result = self._over_limit(engine, policy, input)
            if result is None:
                loop = asyncio.get_running_loop()
                try:
                    # asyncio.timeout, not wait_for: wait_for can swallow the request's own
                    # cancellation (a client that hung up) when the decision finishes just then
                    async with asyncio.timeout(self.settings.decision_timeout_s):
                        decision = await loop.run_in_executor(self.decisions, engine.evaluate, policy, input)
                    result = verdict(policy, decision, can_redact=can_redact)
                except Exception as exc:
                    result = self._no_decision(engine, policy, type(exc).__name__)
            span.set_attributes(
                {
                    "policy.name": policy,
                    "policy.version": result.version,
                    "policy.mode": result.mode,
                    "policy.decision": result.action,
                    "policy.categories": list(result.categories),
                }
            )
        for category in result.categories or ("none",):
            self.metrics.decisions.labels(policy, result.mode, result.action, category).inc()
        return result

    @staticmethod
    def mode(engine: PolicyEngine, policy: PolicyName) -> str:
        """The loaded bundle's mode of a policy, without evaluating it (enforce when unknown)."""
        try:
            return engine.mode(policy)
        except Exception:
            return "enforce"

    def _over_limit(self, engine: PolicyEngine, policy: PolicyName, input: Mapping[str, Any]) -> Verdict | None:
        """The verdict for texts longer than the policy reads (policies.limits.max_text_chars), or
        None: the engine decides. It is a decision like any other (counted, in the headers)."""
        config = self.settings.policies.get(policy, {})
        limit = (config.get("limits") or {}).get("max_text_chars")
        mode = str(config.get("mode", "enforce"))
        if not limit or mode == "off":
            return None
        size = sum(len(t.get("text") or "") for t in input.get("texts", ()))
        if size <= limit:
            return None
        try:
            version = dict(engine.versions).get(policy, "")
        except Exception:
            version = ""
        where = {"field": "texts", "characters": size, "limit": limit}
        violation = {
            "rule": "limit_text_size",
            "category": "limits",
            "severity": "high",
            "message": f"texts longer than the {policy} policy reads",
            "where": where,
        }
        action = "block" if mode == "enforce" else "monitor"
        return Verdict(policy, version, mode, action, ("limits",), ("limit_text_size",), (), (violation,))

    def _no_decision(self, engine: PolicyEngine, policy: PolicyName, why: str) -> Verdict:
        if self.settings.fail_mode == "open":
            self.metrics.policy_errors.labels(policy, "fail_open").inc()
            self.metrics.fail_open.labels(f"{policy}_policy").inc()
            emit_event("policy_gateway.fail_open", {"reason": f"{policy}_policy_unavailable", "error": why})
            try:
                version = dict(engine.versions).get(policy, "")
            except Exception:
                version = ""
            return fail_open_verdict(policy, version)
        self.metrics.policy_errors.labels(policy, "refused").inc()
        _log.error("policy evaluation failed", extra={"policy": policy, "error": why})
        raise unavailable_error(policy)

    def output_cannot_act(self, engine: PolicyEngine) -> bool:
        """True when the output policy is `off` or `monitor`, so an answer need not be held back.
        gateway.json says which mode was compiled; the loaded bundle has the last word (a hot
        reload may have moved it to `enforce`), read from the bundle without evaluating: no call
        into OPA's engine on the event loop, beside the decision threads (GOMAXPROCS=1)."""
        if self.settings.policies.get("output", {}).get("mode") not in ("off", "monitor"):
            return False
        return self.mode(engine, "output") in ("off", "monitor")
