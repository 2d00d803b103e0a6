"""The compiled policies, in-process: load a bundle once, evaluate many times, swap it atomically
when it changes on disk.

    store = PolicyStore("generated/prod/opa/bundle.tar.gz")
    decision = store.evaluate("prompt", {"model": "chat-default", "texts": [{"field": "messages[0].content",
                                                                             "role": "user", "text": "…"}]})
    # {"allow": False, "mode": "enforce", "policy_version": "1.0.0", "violations": [...]}

The decision document is described in docs/architecture.md ("Policy decision"). Two engines give
the same decisions (tests/policy/test_engine_parity.py): OPA's Rego engine on the bundle's Rego,
and the WebAssembly engine on its policy.wasm. `engine` picks one: "rego", "wasm", or "auto", the
faster on our policies as bench/policy.py measures it, which is the Rego engine (docs/benchmarks.md:
the module is two orders of magnitude slower). A policy whose mode is `off` is not evaluated at all.

No bundle is loaded, at start or on a reload, before it is proven (runtime/policy/_trust.py): its
files match the digests of its `.manifest`, and, as the `BundleTrust` given says, it is signed with
the key the specs name and runs no policy `off` in production. A refused reload keeps the loaded
bundle serving and reports why in `status()["last_error"]`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from runtime.policy._bundle import Bundle, BundleError, fingerprint, read_bundle
from runtime.policy._engines import Engine, EngineError, RegoEngine, WasmEngine
from runtime.policy._trust import BundleTrust, TrustConfigError, bundle_trust, load_verification_key

__all__ = [
    "DECISION_ENTRYPOINTS",
    "ENGINES",
    "BundleError",
    "BundleTrust",
    "EngineChoice",
    "PolicyEvaluationError",
    "PolicyName",
    "PolicyStore",
    "TrustConfigError",
    "bundle_trust",
    "load_engine",
    "load_verification_key",
]

PolicyName = Literal["prompt", "output"]
EngineChoice = Literal["auto", "rego", "wasm"]
ENGINES: tuple[EngineChoice, ...] = ("auto", "rego", "wasm")

# The only queries the engines ever see: OPA caches each distinct query for the engine's life.
DECISION_ENTRYPOINTS: dict[str, str] = {
    "prompt": "gateway/prompt/decision",
    "output": "gateway/output/decision",
}

# What each policy reads of its input (docs/architecture.md, "Policy decision"): the texts the
# endpoint readers (runtime/endpoints) found in a request or an answer. Nothing else is sent to
# the engine, which saves encoding it on every call.
_INPUT_FIELDS: dict[str, tuple[str, ...]] = {
    "prompt": ("endpoint", "model", "texts", "unreadable", "output_tokens"),
    "output": ("endpoint", "model", "texts"),
}


class PolicyEvaluationError(Exception):
    """The engine could not produce a decision; the message is one line and holds no input text."""


@dataclass(frozen=True)
class _Loaded:
    bundle: Bundle
    engine: Engine
    loaded_at: float
    fingerprint: tuple[int, ...]


class PolicyStore:
    """A loaded bundle and its engine. Thread-safe; evaluations in flight during a swap finish on
    the bundle they started with."""

    def __init__(
        self, path: str | os.PathLike[str], *, trust: BundleTrust | None = None, engine: EngineChoice = "auto"
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"unknown policy engine {engine!r}: expected auto, rego or wasm")
        self._path = Path(path)
        self._engine = engine
        self._trust = trust or BundleTrust()
        self._reload_lock = threading.Lock()
        self._last_error: str | None = None
        self._loaded = self._load()

    # --- evaluating ------------------------------------------------------------------------

    def evaluate(self, policy: PolicyName, input: Mapping[str, Any]) -> dict[str, Any]:
        loaded = self._loaded  # one read: a concurrent swap does not change this evaluation
        if policy not in DECISION_ENTRYPOINTS:
            raise ValueError(f"unknown policy {policy!r}: expected 'prompt' or 'output'")
        if not isinstance(input, Mapping):
            raise PolicyEvaluationError(f"the {policy} policy's input must be a JSON object")
        if loaded.bundle.config(policy).get("mode") == "off":
            return _off_decision(policy, loaded.bundle.versions[policy])
        projected = {key: input[key] for key in _INPUT_FIELDS[policy] if key in input}
        try:
            decision = loaded.engine.evaluate(DECISION_ENTRYPOINTS[policy], projected)
        except EngineError as exc:
            raise PolicyEvaluationError(f"{policy} policy: {exc}") from None
        except (TypeError, ValueError) as exc:  # input that is not JSON
            raise PolicyEvaluationError(f"{policy} policy: input is not JSON ({type(exc).__name__})") from None
        _check_decision(policy, decision)
        return dict(decision)

    # --- reloading -------------------------------------------------------------------------

    def reload_if_changed(self) -> bool:
        """Load the bundle again if its content changed on disk; True when it was swapped. A
        bundle that cannot be loaded leaves the current one in place and is kept as last_error."""
        with self._reload_lock:
            current = self._loaded
            try:
                if fingerprint(self._path) == current.fingerprint:
                    return False
            except OSError:
                pass  # gone or unreadable right now: _load says which
            try:
                bundle, stamp = self._read()
                if bundle.digest == current.bundle.digest:  # touched, or back to what is loaded
                    self._loaded = _Loaded(current.bundle, current.engine, current.loaded_at, stamp)
                    self._last_error = None
                    return False
                candidate = _activate(bundle, stamp, self._engine)
            except BundleError as exc:
                self._last_error = str(exc)
                return False
            self._loaded = candidate
            self._last_error = None
            return True

    def _read(self) -> tuple[Bundle, tuple[int, ...]]:
        try:
            stamp = fingerprint(self._path)
        except OSError:
            stamp = ()
        return read_bundle(self._path, self._trust), stamp

    def _load(self) -> _Loaded:
        bundle, stamp = self._read()
        return _activate(bundle, stamp, self._engine)

    # --- reporting -------------------------------------------------------------------------

    @property
    def versions(self) -> dict[str, str]:
        return self._loaded.bundle.versions

    def mode(self, policy: PolicyName) -> str:
        """The loaded bundle's mode of a policy (enforce, monitor or off), without evaluating it."""
        return str(self._loaded.bundle.config(policy).get("mode"))

    def status(self) -> dict[str, Any]:
        loaded = self._loaded
        return {
            "revision": loaded.bundle.revision,
            "versions": loaded.bundle.versions,
            "modes": loaded.bundle.modes,
            "signed_by": loaded.bundle.signed_by,
            "loaded_at": loaded.loaded_at,
            "last_error": self._last_error,
            "engine": loaded.engine.name,
            "path": str(self._path),
            "digest": loaded.bundle.digest,
            "trust": self._trust.describe(),
        }


def _activate(bundle: Bundle, stamp: tuple[int, ...], choice: EngineChoice) -> _Loaded:
    try:
        engine = load_engine(bundle, choice)
    except EngineError as exc:
        raise BundleError(str(exc)) from None
    return _Loaded(bundle, engine, time.time(), stamp)


def load_engine(bundle: Bundle, choice: EngineChoice = "auto") -> Engine:
    """The engine `choice` names for a bundle ("auto": OPA's Rego engine, the faster), checked
    with one evaluation of each decision before it serves anything."""
    engine: Engine
    if choice == "wasm":
        if bundle.wasm is None:
            raise EngineError("the wasm engine was asked for, but the bundle holds no policy.wasm")
        engine = WasmEngine(bundle.wasm, bundle.data, tuple(DECISION_ENTRYPOINTS.values()))
    else:
        engine = RegoEngine(bundle.modules, bundle.data)
    for policy, entrypoint in DECISION_ENTRYPOINTS.items():
        decision = engine.evaluate(entrypoint, {"texts": [{"field": "text", "role": "user", "text": "hello"}]})
        try:
            _check_decision(policy, decision)
        except PolicyEvaluationError as exc:
            raise EngineError(str(exc)) from None
    return engine


def _off_decision(policy: str, version: str) -> dict[str, Any]:
    decision: dict[str, Any] = {"allow": True, "mode": "off", "policy_version": version, "violations": []}
    if policy == "output":
        decision["redactions"] = []
    return decision


def _check_decision(policy: str, decision: Any) -> None:
    ok = (
        isinstance(decision, dict)
        and isinstance(decision.get("allow"), bool)
        and decision.get("mode") in ("enforce", "monitor", "off")
        and isinstance(decision.get("violations"), list)
        and isinstance(decision.get("policy_version"), str)
        and (policy != "output" or isinstance(decision.get("redactions"), list))
    )
    if not ok:
        raise PolicyEvaluationError(f"{policy} policy: the bundle's decision is not a decision document")
