"""One OPA engine of opa-golib-python-bindings, called through the library's own ctypes entry
points (opa_bindings._native) instead of its OpaEngine class.

Why: OpaEngine encodes the input with json.dumps and decodes the result with json.loads, and
keeps per-evaluation state (prints, trace, coverage) that a decision never reads; on a 4 KB
request this is ~10 % of the prompt decision's CPU (docs/benchmarks.md, "Policy decisions").
Here orjson does both ends. The Go side (libopabridge.so, OPA itself) is the same.
"""

from __future__ import annotations

import ctypes
import functools
import json
import threading
import weakref
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["NativeError", "NativeOpa", "input_json"]


class NativeError(Exception):
    """The library refused a call; `code` is its error code ("undefined" for an undefined document)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@functools.cache
def _library() -> Any:
    from opa_bindings import _native  # type: ignore[import-untyped]

    return _native.load()


class NativeOpa:
    """An OPA engine: Rego modules and data added once, documents evaluated many times. Calls are
    serialised by a lock (free when one thread owns the engine, as RegoEngine arranges)."""

    def __init__(self) -> None:
        self._lib = _library()
        self._handle: int | None = self._lib.OpaNew()
        self._lock = threading.Lock()
        # The Go side holds the compiled policies until destroyed: an engine dropped without
        # close() (that of a thread that ended) is destroyed when collected.
        self._destroy = weakref.finalize(self, self._lib.OpaDestroy, self._handle)

    def add_policy(self, path: str, text: str) -> None:
        self._call(self._lib.OpaAddPolicy, _c_string(path), _c_string(text))

    def add_data(self, data: Mapping[str, Any]) -> None:
        self._call(self._lib.OpaAddData, b"", input_json(data))

    def eval_document(self, path: bytes, payload: bytes) -> Any:
        """The value of data.<path> (dotted) for the input JSON in payload."""
        envelope = self._call(self._lib.OpaEvalDocument, path, payload, 0, 0)
        results = envelope.get("result")
        if not results or not results[0].get("expressions"):
            raise NativeError("undefined", f"data.{path.decode()} is undefined")
        return results[0]["expressions"][0]["value"]

    def close(self) -> None:
        with self._lock:
            self._handle = None
            self._destroy()

    def _call(self, fn: Any, *args: Any) -> dict[str, Any]:
        with self._lock:
            if self._handle is None:
                raise NativeError("closed", "the engine has been closed")
            pointer = fn(self._handle, *args)
        if not pointer:
            raise NativeError("internal", "the OPA library returned nothing")
        try:
            raw = ctypes.string_at(pointer)
        finally:
            self._lib.OpaFreeString(pointer)
        envelope: dict[str, Any] = orjson.loads(raw)
        error = envelope.get("error")
        if error:
            raise NativeError(str(error.get("code", "unknown")), str(error.get("message", "")))
        return envelope


def input_json(value: Any) -> bytes:
    """value as the JSON the engine reads, as the binding would send it, by orjson (a tenth of
    json.dumps' time on a 4 KB request). Where orjson would send something else, json does it:
    orjson refuses integers beyond 64 bits and lone surrogates, and writes NaN and infinities as
    null where json writes what the engine then refuses (a failed decision, not a missing
    number); "null" in orjson's output is the one sign of that, so such input takes json's way."""
    try:
        out = orjson.dumps(value)
    except orjson.JSONEncodeError:
        out = b"null"
    if b"null" not in out:
        return out
    try:
        return json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: Go would read it as U+FFFD
        raise NativeError("invalid_argument", f"the input is not valid UTF-8 ({exc.reason})") from None


def _c_string(text: str) -> bytes:
    """text for a char* argument: Go reads up to the first NUL, which would cut the text short."""
    if "\0" in text:
        raise NativeError("invalid_argument", "a NUL character in a policy or its path")
    return text.encode("utf-8")
