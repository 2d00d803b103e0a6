"""A stand-in for runtime.policy.PolicyStore with the same interface, for unit tests of the
gateway's request path (the integration suite uses the real store and the real bundle)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from runtime.endpoints import ENDPOINTS

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
JAILBREAK = "ignore previous instructions"
KEY = "sk-test-client"


async def ops_get(app: Any, path: str) -> httpx.Response:
    """GET an operations endpoint of a GatewayApp the way the operations port serves it."""
    transport = httpx.ASGITransport(app=app.operations, client=("10.9.9.9", 9999))
    async with httpx.AsyncClient(transport=transport, base_url="http://operations.test") as client:
        return await client.get(path)


def chat(content: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "chat-default", "messages": [{"role": "user", "content": content}], **extra}


class FakePolicyStore:
    def __init__(self, prompt_mode: str = "enforce", output_mode: str = "enforce") -> None:
        self.modes = {"prompt": prompt_mode, "output": output_mode}
        self.output_action = "redact"
        self.fail = False
        self.calls: list[str] = []
        self.inputs: list[tuple[str, Mapping[str, Any]]] = []
        self.threads: list[str] = []  # the thread of each evaluate call
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

    def mode(self, policy: str) -> str:
        return self.modes[policy]

    def evaluate(self, policy: str, input: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append(policy)
            self.inputs.append((policy, input))
            self.threads.append(threading.current_thread().name)
        if self.fail:
            raise RuntimeError("engine down")
        mode = self.modes[policy]
        version = self.versions[policy]
        if mode == "off":
            return {"allow": True, "mode": "off", "policy_version": version, "violations": []}
        if policy == "prompt":
            text = " ".join(str(t["text"]) for t in input["texts"])
            violations = []
            if EMAIL.search(text):
                violations.append(_v("pii_email", "pii"))
            if JAILBREAK in text.lower():
                violations.append(_v("jailbreak_instruction_override", "jailbreak"))
            allow = mode != "enforce" or not violations
            return {"allow": allow, "mode": mode, "policy_version": version, "violations": violations}
        matches = [(t["field"], m) for t in input["texts"] for m in SSN.finditer(str(t["text"]))]
        violations = [_v("pii_ssn", "pii") for _ in matches]
        redactions = (
            [{"field": f, "start": m.start(), "end": m.end(), "replacement": "[REDACTED:ssn]"} for f, m in matches]
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


def gateway_json(provider_url: str, **overrides: Any) -> dict[str, Any]:
    """A small gateway.json in the shape docs/architecture.md gives (and the compiler emits)."""
    data: dict[str, Any] = {
        "environment": "test",
        "sea_env": "development",
        "enable_policy_gateway": True,
        "fail_mode": "closed",
        "listen_port": 8080,
        "llm_provider_url": provider_url,
        "circuit_breaker": {"failure_threshold": 5, "reset_timeout_s": 30.0},
        "rate_limit": {"requests_per_minute": 600},
        "max_body_bytes": 4096,
        "backends": {
            "gpu_fast": {
                "base_url": provider_url,
                "capabilities": ["chat", "embeddings"],
                "concurrency": {"chat": 4, "embeddings": 2},
                "health": {"live": "/healthz", "ready": "/readyz"},
                "legacy_names": ["ollama"],
            },
            "gpu_heavy": {
                "base_url": provider_url,
                "capabilities": ["images"],
                "concurrency": {"images": 1},
                "health": None,
                "legacy_names": [],
            },
        },
        "models": {
            "chat-default": {"backend": "gpu_fast", "capability": "chat", "fallbacks": []},
            "image-default": {"backend": "gpu_heavy", "capability": "images", "fallbacks": []},
        },
        "policies": {
            "prompt": {"version": "1.0.0", "mode": "enforce"},
            "output": {"version": "1.2.0", "mode": "enforce", "action": "redact"},
        },
        "bundle": "opa/bundle.tar.gz",
    }
    data.update(overrides)
    return data


def write_generated(root: Path, data: dict[str, Any], env: str = "test") -> Path:
    (root / env / "opa").mkdir(parents=True, exist_ok=True)
    (root / env / "gateway.json").write_text(json.dumps(data), encoding="utf-8")
    (root / env / "opa" / "bundle.tar.gz").write_bytes(b"placeholder")
    return root


# gateway.json overrides for an environment that exposes every endpoint the fake provider serves
# directly (MCP and A2A are LiteLLM's own routes: tests/integration), one model per capability.
EVERYTHING = {
    "backends": {
        "gpu_fast": {
            "base_url": "http://unused",
            "capabilities": ["chat", "completions", "embeddings", "speech", "transcription", "moderations", "rerank"],
            "concurrency": {"chat": 4, "embeddings": 2},
            "health": None,
            "legacy_names": ["ollama"],
        },
        "gpu_heavy": {
            "base_url": "http://unused",
            "capabilities": ["images"],
            "concurrency": {"images": 1},
            "health": None,
            "legacy_names": [],
            "payload_policy": {"images_format": "url", "max_image_bytes": None},
        },
    },
    "models": {
        name: {"backend": backend, "capability": capability, "fallbacks": []}
        for name, backend, capability in [
            ("chat-default", "gpu_fast", "chat"),
            ("text-default", "gpu_fast", "completions"),
            ("embed-default", "gpu_fast", "embeddings"),
            ("tts-default", "gpu_fast", "speech"),
            ("stt-default", "gpu_fast", "transcription"),
            ("mod-default", "gpu_fast", "moderations"),
            ("rerank-default", "gpu_fast", "rerank"),
            ("image-default", "gpu_heavy", "images"),
        ]
    },
    "endpoints": [name for name in ENDPOINTS if name not in ("mcp", "a2a")],
    "max_body_bytes": 65536,
}

# A tiny WAV header: audio the policy cannot read.
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 24
