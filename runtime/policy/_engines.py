"""The two engines behind PolicyStore: OPA's own Rego engine in-process, and OPA-compiled
WebAssembly on wasmtime. Both answer evaluate(entrypoint, input) -> the decision document.

- RegoEngine runs OPA 1.x (the Go engine of opa-golib-python-bindings, through its ctypes entry
  points: runtime/policy/_opa_native.py) on the bundle's Rego modules and data: the same engine as
  `opa eval` and `opa test`. One OPA engine per thread (see docs/benchmarks.md: a shared engine
  serialises every evaluation on its lock).
- WasmEngine runs policy.wasm (built by `opa build -t wasm` where the opa CLI exists) with
  opa-py-wasm, which keeps its own pool of instances.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from runtime.policy._opa_native import NativeError, NativeOpa, input_json
from runtime.policy._wasm_builtins import HOST_BUILTINS, missing, read_strings_as_go_does

__all__ = ["Engine", "EngineError", "RegoEngine", "WasmEngine"]


class EngineError(Exception):
    """The engine could not load the policy or could not evaluate it; the message is one line."""


class Engine(Protocol):
    name: str

    def evaluate(self, entrypoint: str, input: Mapping[str, Any]) -> Any: ...


class RegoEngine:
    """OPA's Rego engine. Entrypoints are paths like "gateway/prompt/decision"."""

    name = "rego"

    def __init__(self, modules: Mapping[str, str], data: Mapping[str, Any], *, per_thread: bool = True) -> None:
        try:
            import opa_bindings  # type: ignore[import-untyped]  # noqa: F401
        except ImportError as exc:  # pragma: no cover - scripts/setup installs it
            raise EngineError(
                "the OPA engine is not installed: pip install --ignore-requires-python "
                "opa-golib-python-bindings==0.4.4 (scripts/setup does this)"
            ) from exc
        self._modules = dict(modules)
        self._data = dict(data)
        self._per_thread = per_thread
        self._local = threading.local()
        # Compile now, on the loading thread: a broken module fails the load, not a request.
        self._shared = self._new_engine()
        self._local.engine = self._shared

    def _new_engine(self) -> NativeOpa:
        engine = NativeOpa()
        constants, data = _as_module(self._data)
        try:
            for path, text in self._modules.items():
                engine.add_policy(path, text)
            if constants:
                engine.add_policy(_CONFIG_MODULE, constants)
            engine.add_data(data)
        except NativeError as exc:
            engine.close()
            raise EngineError(_one_line(exc.message)) from None
        return engine

    def _engine(self) -> NativeOpa:
        engine: NativeOpa | None = getattr(self._local, "engine", None)
        if engine is None:
            engine = self._new_engine() if self._per_thread else self._shared
            self._local.engine = engine
        return engine

    def evaluate(self, entrypoint: str, input: Mapping[str, Any]) -> Any:
        try:
            return self._engine().eval_document(entrypoint.replace("/", ".").encode(), input_json(input))
        except NativeError as exc:
            if exc.code == "undefined":
                raise EngineError(f"{entrypoint} is undefined for this input") from None
            raise EngineError(_one_line(exc.message)) from None


class WasmEngine:
    """OPA-compiled WebAssembly. Entrypoints are the names `opa build -e` was given."""

    name = "wasm"

    def __init__(self, wasm: bytes, data: Mapping[str, Any], entrypoints: tuple[str, ...] = ()) -> None:
        from opapywasm import OpaWasmError, OpaWasmPolicy, PolicyConfig

        self._error = OpaWasmError
        read_strings_as_go_does()
        try:
            self._policy = OpaWasmPolicy.from_wasm_bytes(wasm, PolicyConfig(eval_timeout_seconds=5.0))
            self._policy.set_data(dict(data))
        except OpaWasmError as exc:
            raise EngineError(f"policy.wasm: {_one_line(str(exc))}") from None
        problem = _unservable(self._policy.entrypoints, entrypoints, self._policy.builtins)
        if problem:
            self._policy.close()
            raise EngineError(problem)
        for name, implementation in HOST_BUILTINS.items():
            self._policy.register_builtin(name, implementation)

    def evaluate(self, entrypoint: str, input: Mapping[str, Any]) -> Any:
        from opapywasm import UNDEFINED

        try:
            result = self._policy.evaluate(dict(input), entrypoint)
        except self._error as exc:
            raise EngineError(_one_line(str(exc))) from None
        if result is UNDEFINED:
            raise EngineError(f"{entrypoint} is undefined for this input")
        return result

    def close(self) -> None:
        self._policy.close()


def _unservable(have: Mapping[str, int], want: tuple[str, ...], builtins: Mapping[str, int]) -> str:
    """Why a module cannot serve (an entrypoint or a host builtin missing), or ""."""
    absent = sorted(set(want) - set(have))
    if absent:
        return f"policy.wasm has no entrypoint {', '.join(absent)}"
    unknown = missing(dict(builtins))
    if unknown:
        return (f"policy.wasm needs the builtin(s) {', '.join(unknown)}, which the host does not implement "
                "(runtime/policy/_wasm_builtins.py)")
    return ""


# data.gateway.config is loaded as a Rego module of constants rather than as data: OPA converts
# a data document to its internal form on every evaluation that reads it, a compiled constant
# once. The documents the policies see are the same (data.gateway.config.prompt, …).
_CONFIG_MODULE = "gateway_config.rego"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _as_module(data: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(Rego module holding data.gateway.config, the rest of data)."""
    gateway = data.get("gateway")
    config = gateway.get("config") if isinstance(gateway, Mapping) else None
    if not isinstance(config, Mapping) or not config or not all(_IDENTIFIER.match(k) for k in config):
        return "", dict(data)
    rest = {k: v for k, v in data.items() if k != "gateway"}
    rest_gateway = {k: v for k, v in gateway.items() if k != "config"}  # type: ignore[union-attr]
    if rest_gateway:
        rest["gateway"] = rest_gateway
    # JSON is Rego: objects, arrays, strings, numbers, true, false and null read the same.
    lines = ["package gateway.config", ""]
    lines += [f"{key} := {json.dumps(value, sort_keys=True)}" for key, value in sorted(config.items())]
    return "\n".join(lines) + "\n", rest


def _one_line(message: str) -> str:
    return " ".join(message.split())
