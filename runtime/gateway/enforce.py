"""Turns policy decisions into what the gateway does: pass, report (monitor), block, redact, or
apply the fail mode when no decision could be made. Only categories, rule ids and versions leave
this module; the text a rule matched never does."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from runtime.gateway.errors import GatewayError
from runtime.telemetry import GatewayMetrics, emit_event

__all__ = [
    "PolicyEngine",
    "Verdict",
    "apply_redactions",
    "blocked_error",
    "evaluate",
]

PolicyName = Literal["prompt", "output"]
_log = logging.getLogger("policy_gateway.policy")


class PolicyEngine(Protocol):
    """What the gateway needs from runtime.policy.PolicyStore."""

    def evaluate(self, policy: PolicyName, input: Mapping[str, Any]) -> dict[str, Any]: ...
    def reload_if_changed(self) -> bool: ...
    def status(self) -> dict[str, Any]: ...
    @property
    def versions(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class Verdict:
    policy: PolicyName
    version: str
    mode: str
    # allow | monitor | block | redact | off | fail_open
    action: str
    categories: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    redactions: Sequence[Mapping[str, Any]] = field(default_factory=tuple)

    @property
    def passes(self) -> bool:
        return self.action != "block"


def evaluate(
    engine: PolicyEngine,
    policy: PolicyName,
    input: Mapping[str, Any],
    *,
    fail_mode: str,
    metrics: GatewayMetrics,
    redact_allowed: bool = False,
) -> Verdict:
    """Evaluate one policy and decide. Raises a 503 GatewayError when the policy cannot be
    evaluated and the fail mode is closed."""
    try:
        decision = engine.evaluate(policy, input)
        mode = str(decision["mode"])
        version = str(decision.get("policy_version", ""))
        allow = bool(decision["allow"])
        violations = decision.get("violations") or []
        redactions = decision.get("redactions") or []
        categories = tuple(sorted({str(v.get("category", "unknown")) for v in violations}))
        rules = tuple(sorted({str(v.get("rule", "unknown")) for v in violations}))
    except Exception as exc:
        return _no_decision(engine, policy, fail_mode, metrics, type(exc).__name__)

    if mode == "off":
        action = "off"
    elif mode == "monitor":
        action = "monitor" if violations else "allow"
    elif redactions and redact_allowed:
        action = "redact"
    elif not allow:
        action = "block"
    else:
        # enforce, allowed: violations here are ones the policy chose not to block on.
        action = "monitor" if violations else "allow"
    for category in categories or ("none",):
        metrics.decisions.labels(policy, mode, action, category).inc()
    return Verdict(policy, version, mode, action, categories, rules, tuple(redactions))


def _no_decision(
    engine: PolicyEngine, policy: PolicyName, fail_mode: str, metrics: GatewayMetrics, why: str
) -> Verdict:
    version = _safe_versions(engine).get(policy, "")
    if fail_mode == "open":
        metrics.policy_errors.labels(policy, "fail_open").inc()
        metrics.fail_open.labels(f"{policy}_policy").inc()
        emit_event(
            "policy_gateway.fail_open",
            {"reason": f"{policy}_policy_unavailable", "error": why},
        )
        return Verdict(policy, version, "unknown", "fail_open")
    metrics.policy_errors.labels(policy, "refused").inc()
    _log.error("policy evaluation failed", extra={"policy": policy, "error": why})
    raise GatewayError(
        503,
        f"the {policy} policy could not be evaluated, so the request was refused "
        "(POLICY_GATEWAY_FAIL_MODE=closed); retry shortly or check /hot-reload/status",
        type_="service_unavailable",
        code="policy_unavailable",
        headers=[(b"retry-after", b"5")],
    )


def _safe_versions(engine: PolicyEngine) -> dict[str, str]:
    try:
        return dict(engine.versions)
    except Exception:
        return {}


def blocked_error(verdict: Verdict) -> GatewayError:
    what = "request" if verdict.policy == "prompt" else "model's answer"
    hint = (
        "remove the flagged content and retry"
        if verdict.policy == "prompt"
        else "rephrase the request; the answer was withheld"
    )
    return GatewayError(
        403,
        f"the {what} was blocked by the {verdict.policy} policy {verdict.version} "
        f"(categories: {', '.join(verdict.categories) or 'unspecified'}); {hint}",
        type_="policy_violation",
        code=f"{verdict.policy}_policy_violation",
        headers=[
            (b"x-policy-decision", b"block"),
            (b"x-policy-version", f"{verdict.policy}={verdict.version}".encode()),
            (b"x-policy-categories", ",".join(verdict.categories).encode()),
        ],
        policy=verdict.policy,
        policy_version=verdict.version,
        categories=list(verdict.categories),
        rules=list(verdict.rules),
    )


def apply_redactions(text: str, redactions: Sequence[Mapping[str, Any]]) -> str:
    """Replace each [start, end) span with its replacement. Overlapping spans are merged (the
    widest wins) so no fragment of a match survives between two replacements. A span outside the
    text raises ValueError: the policy saw other text than this, and the caller must block."""
    spans = []
    for r in redactions:
        start, end = int(r["start"]), int(r["end"])
        if not 0 <= start < end <= len(text):
            raise ValueError("redaction span outside the text")
        spans.append((start, end, str(r.get("replacement") or "[REDACTED]")))
    spans.sort()
    merged: list[tuple[int, int, str]] = []
    for start, end, repl in spans:
        if merged and start < merged[-1][1]:
            prev = merged[-1]
            merged[-1] = (prev[0], max(prev[1], end), prev[2])
        else:
            merged.append((start, end, repl))
    out, pos = [], 0
    for start, end, repl in merged:
        out.append(text[pos:start])
        out.append(repl)
        pos = end
    out.append(text[pos:])
    return "".join(out)
