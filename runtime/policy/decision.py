"""What a policy decision means for a request, in one place for the gateway, its stream filter and
the LiteLLM guardrail: the action (pass, report, block, redact, fail open), redaction, the decision
headers and the error bodies. Only rule ids, categories, versions and offsets leave this module;
the text a rule matched never does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from runtime.errors import ApiError, retry_after

__all__ = [
    "BLOCKED_STATUS",
    "PolicyName",
    "Verdict",
    "apply_redactions",
    "blocked_error",
    "decision_headers",
    "fail_open_verdict",
    "redact_texts",
    "unavailable_error",
    "verdict",
]

PolicyName = Literal["prompt", "output"]
# A refusal by policy: the request was understood and is not allowed (the same on both routes).
BLOCKED_STATUS = 403
# A request over the policy's caps (text size, matches): refused before or by the policy.
LIMITS_STATUS = 413
UNAVAILABLE_RETRY_AFTER_S = 5


@dataclass(frozen=True)
class Verdict:
    policy: PolicyName
    version: str
    mode: str
    # allow | monitor | block | redact | off | fail_open
    action: str
    categories: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    redactions: Sequence[Mapping[str, Any]] = ()
    violations: Sequence[Mapping[str, Any]] = field(default=(), repr=False)

    @property
    def passes(self) -> bool:
        return self.action != "block"


def verdict(policy: PolicyName, decision: Mapping[str, Any], *, can_redact: bool) -> Verdict:
    """The action a decision document asks for. `can_redact`: the caller can deliver the answer with
    the decision's redactions applied (else an enforcing decision with redactions blocks).
    Raises KeyError/TypeError/ValueError for a document that is not a decision."""
    mode = str(decision["mode"])
    version = str(decision.get("policy_version", ""))
    allow = decision["allow"]
    if not isinstance(allow, bool):
        raise TypeError("allow is not a boolean")
    violations = [_public_violation(v) for v in decision.get("violations") or []]
    redactions = tuple(decision.get("redactions") or ())
    categories = tuple(sorted({str(v.get("category", "unknown")) for v in violations}))
    rules = tuple(sorted({str(v.get("rule", "unknown")) for v in violations}))
    if mode == "off":
        action = "off"
    elif mode == "monitor":
        action = "monitor" if violations else "allow"
    elif mode != "enforce":
        raise ValueError(f"mode {mode!r}")
    elif redactions and can_redact:
        action = "redact"
    elif not allow:
        action = "block"
    else:
        # enforce, allowed: violations here are ones the policy chose not to block on.
        action = "monitor" if violations else "allow"
    return Verdict(policy, version, mode, action, categories, rules, redactions, tuple(violations))


def fail_open_verdict(policy: PolicyName, version: str) -> Verdict:
    """No decision could be made and the fail mode is open: the request passes, loudly."""
    return Verdict(policy, version, "unknown", "fail_open")


def _public_violation(violation: Mapping[str, Any]) -> dict[str, Any]:
    return {k: violation[k] for k in ("rule", "category", "severity", "message", "where") if k in violation}


# Which action the X-Policy-Decision header shows when verdicts differ: the strongest.
_PRECEDENCE = ("block", "redact", "fail_open", "monitor")


def decision_headers(verdicts: Iterable[Verdict]) -> list[tuple[bytes, bytes]]:
    """X-Policy-Decision, X-Policy-Version and X-Policy-Categories for the verdicts of a request."""
    verdicts = list(verdicts)
    actions = {v.action for v in verdicts}
    decision = next((a for a in _PRECEDENCE if a in actions), "off" if actions == {"off"} else "allow")
    versions = ",".join(f"{v.policy}={v.version}" for v in verdicts if v.version)
    categories = sorted({c for v in verdicts for c in v.categories})
    out = [(b"x-policy-decision", decision.encode()), (b"x-policy-version", versions.encode())]
    if categories:
        out.append((b"x-policy-categories", ",".join(categories).encode()))
    return out


def blocked_error(verdict: Verdict, earlier: Iterable[Verdict] = ()) -> ApiError:
    """The refusal for a blocking verdict; `earlier`: the verdicts of the same request before it
    (the prompt's, when the answer is blocked), for the headers."""
    what, hint = (
        ("request", "remove the flagged content and retry")
        if verdict.policy == "prompt"
        else ("model's answer", "rephrase the request; the answer was withheld")
    )
    # A request larger than the policy reads (its text-size or match caps) is too large, not bad.
    too_large = verdict.policy == "prompt" and verdict.categories == ("limits",)
    if too_large:
        hint = f"it is over the policy's limits ({', '.join(verdict.rules)}); send less text"
    return ApiError(
        LIMITS_STATUS if too_large else BLOCKED_STATUS,
        f"the {what} was blocked by the {verdict.policy} policy {verdict.version} "
        f"(categories: {', '.join(verdict.categories) or 'unspecified'}); {hint}",
        type_="policy_violation",
        code=f"{verdict.policy}_policy_violation",
        headers=decision_headers([*earlier, verdict]),
        policy=verdict.policy,
        policy_version=verdict.version,
        categories=list(verdict.categories),
        rules=list(verdict.rules),
        violations=list(verdict.violations),
    )


def unavailable_error(policy: PolicyName) -> ApiError:
    """No decision could be made and the fail mode is closed."""
    return ApiError(
        503,
        f"the {policy} policy could not be evaluated, so the request was refused "
        "(fail mode closed); retry shortly or check /hot-reload/status",
        type_="service_unavailable",
        code="policy_unavailable",
        headers=[retry_after(UNAVAILABLE_RETRY_AFTER_S)],
    )


def apply_redactions(text: str, redactions: Iterable[Mapping[str, Any]]) -> str:
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
    for start, end, replacement in spans:
        if merged and start < merged[-1][1]:
            first, last, kept = merged[-1]
            merged[-1] = (first, max(last, end), kept)
        else:
            merged.append((start, end, replacement))
    out, position = [], 0
    for start, end, replacement in merged:
        out += [text[position:start], replacement]
        position = end
    out.append(text[position:])
    return "".join(out)


def redact_texts(texts: Mapping[str, str], redactions: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The redacted text of every field a redaction names (texts: field -> text). A redaction of a
    field that is not there raises ValueError, as a span outside its text does."""
    by_field: dict[str, list[Mapping[str, Any]]] = {}
    for r in redactions:
        by_field.setdefault(str(r.get("field")), []).append(r)
    out = {}
    for name, spans in by_field.items():
        if name not in texts:
            raise ValueError("redaction of a field the policy was not given")
        out[name] = apply_redactions(texts[name], spans)
    return out
