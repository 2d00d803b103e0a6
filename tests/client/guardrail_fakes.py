"""A policy store for the guardrail's unit tests that behaves like the compiled policies on one
secret (an SSN): a violation where it occurs in a text (wherever the text came from), and for the
output policy in `enforce` with action `redact` the redaction of it. It records every input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SSN = "123-45-6789"
REDACTED = "[REDACTED:ssn]"


class FindingStore:
    def __init__(self, *, mode: str = "enforce", action: str = "redact", fail: bool = False) -> None:
        self.mode = mode
        self.action = action
        self.fail = fail
        self.inputs: list[tuple[str, dict[str, Any]]] = []
        self.versions = {"prompt": "1.0.0", "output": "1.0.0"}

    def evaluate(self, policy: str, input: Mapping[str, Any]) -> dict[str, Any]:
        self.inputs.append((policy, dict(input)))
        if self.fail:
            raise RuntimeError("engine crashed")
        violations = [
            {
                "rule": "pii_ssn",
                "category": "pii",
                "severity": "high",
                "message": "US social security number",
                "where": {"field": t["field"], "start": start, "end": start + len(SSN)},
            }
            for t in input.get("texts", [])
            for start in _find_all(t["text"], SSN)
        ]
        violations += [
            {
                "rule": "unreadable_input",
                "category": "unreadable",
                "severity": "medium",
                "message": "content the policy cannot read",
                "where": {"field": u["field"], "content": u["kind"]},
            }
            for u in input.get("unreadable", [])
            if u["kind"] not in ("image", "audio")
        ]
        enforce = self.mode == "enforce"
        decision: dict[str, Any] = {
            "allow": self.mode != "enforce" or not violations,
            "mode": self.mode,
            "policy_version": "1.0.0",
            "violations": violations if self.mode != "off" else [],
        }
        if policy == "output":
            redact = enforce and self.action == "redact"
            decision["redactions"] = [
                {**v["where"], "replacement": REDACTED} for v in violations if redact and v["rule"] == "pii_ssn"
            ]
        return decision

    def asked(self, policy: str) -> list[dict[str, Any]]:
        """The inputs of `policy`, without the mode probes (an output input with no text)."""
        return [i for p, i in self.inputs if p == policy and i.get("texts")]


def _find_all(text: str, needle: str) -> list[int]:
    out, start = [], text.find(needle)
    while start >= 0:
        out.append(start)
        start = text.find(needle, start + 1)
    return out
