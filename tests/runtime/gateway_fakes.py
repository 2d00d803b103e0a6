"""A stand-in for runtime.policy.PolicyStore with the same interface, for unit tests of the
gateway's request path (the integration suite uses the real store and the real bundle)."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
JAILBREAK = "ignore previous instructions"
KEY = "sk-test-client"


def chat(content: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "chat-default", "messages": [{"role": "user", "content": content}], **extra}


class FakePolicyStore:
    def __init__(self, prompt_mode: str = "enforce", output_mode: str = "enforce") -> None:
        self.modes = {"prompt": prompt_mode, "output": output_mode}
        self.output_action = "redact"
        self.fail = False
        self.calls: list[str] = []
        self.revision = "rev-1"
        self.last_error: str | None = None
        self.loaded = True
        self._lock = threading.Lock()

    @property
    def versions(self) -> dict[str, str]:
        return {"prompt": "1.0.0", "output": "1.2.0"} if self.loaded else {}

    def status(self) -> dict[str, Any]:
        return {
            "revision": self.revision if self.loaded else None,
            "versions": self.versions,
            "loaded_at": 1.0,
            "last_error": self.last_error,
            "engine": "fake",
            "path": "fake",
        }

    def reload_if_changed(self) -> bool:
        return False

    def evaluate(self, policy: str, input: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append(policy)
        if self.fail:
            raise RuntimeError("engine down")
        mode = self.modes[policy]
        version = self.versions[policy]
        if mode == "off":
            return {"allow": True, "mode": "off", "policy_version": version, "violations": []}
        if policy == "prompt":
            text = " ".join(str(m.get("content", "")) for m in input["messages"])
            violations = []
            if EMAIL.search(text):
                violations.append(_v("pii_email", "pii"))
            if JAILBREAK in text.lower():
                violations.append(_v("jailbreak_instruction_override", "jailbreak"))
            allow = mode != "enforce" or not violations
            return {"allow": allow, "mode": mode, "policy_version": version, "violations": violations}
        text = str(input["text"])
        matches = list(SSN.finditer(text))
        violations = [_v("pii_ssn", "pii") for _ in matches]
        redactions = (
            [{"field": "text", "start": m.start(), "end": m.end(), "replacement": "[REDACTED:ssn]"} for m in matches]
            if self.output_action == "redact"
            else []
        )
        allow = mode != "enforce" or not violations or bool(redactions)
        return {
            "allow": allow,
            "mode": mode,
            "policy_version": version,
            "violations": violations,
            "redactions": redactions,
        }


def _v(rule: str, category: str) -> dict[str, Any]:
    return {
        "rule": rule,
        "category": category,
        "severity": "high",
        "message": rule,
        "where": {"field": "x", "start": 0, "end": 1},
    }
