"""Strict JSON for what crosses the gateway (requests, batch lines, upstream answers and events).

The standard library accepts what JSON does not allow and what two parsers read differently: NaN
and Infinity, numbers that overflow to infinity, lone surrogates ("\\ud800", which cannot be
written back as UTF-8), duplicate keys (the policy would read one value, another parser the
other), nesting deep enough to exhaust the recursion of whatever serialises the document next.
`loads` refuses all of them and names the place (`messages[2].content[0].text`).

It costs one orjson parse plus two cheap checks (tests/runtime/test_validation_cost.py measures
it): orjson itself refuses NaN, infinities and lone surrogates; the depth is walked only when the
body holds more brackets than the limit; duplicates are looked for by counting colons. Every key
is followed by exactly one colon, so the body's colons are its keys plus the colons inside its
strings; serialised again (orjson writes a colon as it is), the parsed document has the same count
unless a key was dropped, that is, unless a key came twice. An escaped colon (\\u003a) would make
the counts disagree the other way, so a body holding one takes the slow, exact path (a parse with
object_pairs_hook, ~3x the cost).
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from runtime.endpoints._walk import Path, field_name

__all__ = ["MAX_DEPTH", "JsonError", "loads"]

# Requests nest under 10 levels (a tool's JSON schema a few more); deeper input only exhausts the
# recursion of a serialiser or a policy engine further on. The same limit as the spec loader.
MAX_DEPTH = 64


class JsonError(ValueError):
    """A document that is not strict JSON; `param` names the place when there is one."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def loads(raw: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """The document in `raw` (UTF-8 JSON), or JsonError saying what is wrong and where."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _explain(raw, exc) from None
    if type(doc) is not dict and type(doc) is not list:
        return doc
    if raw.count(b"[") + raw.count(b"{") > max_depth:
        deep = _too_deep(doc, max_depth)
        if deep is not None:
            raise JsonError(f"the document nests deeper than {max_depth} levels at `{field_name(deep)}`", _param(deep))
    escaped_colon = b"\\u003a" in raw or b"\\u003A" in raw
    if escaped_colon or raw.count(b":") != orjson.dumps(doc).count(b":"):
        _exact_duplicates(raw)
    return doc


def _param(path: Path) -> str | None:
    return field_name(path) or None


def _too_deep(doc: Any, limit: int) -> Path | None:
    """The path of the first container nested deeper than `limit`, or None (containers only)."""
    stack: list[tuple[Any, Path]] = [(doc, ())]
    while stack:
        node, path = stack.pop()
        if len(path) >= limit:
            return path
        if type(node) is dict:
            stack += [(v, (*path, k)) for k, v in node.items() if type(v) is dict or type(v) is list]
        else:
            stack += [(v, (*path, i)) for i, v in enumerate(node) if type(v) is dict or type(v) is list]
    return None


class _Duplicated(dict[str, Any]):
    """An object that had a key twice (marked by the slow parse)."""

    duplicate = ""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    marked = _Duplicated(out)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            marked.duplicate = key
            break
        seen.add(key)
    return marked


def _exact_duplicates(raw: bytes) -> None:
    """Raise JsonError naming the first duplicate key, if there is one."""
    doc = json.loads(raw, object_pairs_hook=_pairs)
    for path, value in _nodes(doc):
        if isinstance(value, _Duplicated):
            where = (*path, value.duplicate)
            raise JsonError(f"`{field_name(where)}` appears twice; send each key once", field_name(where))


def _nodes(doc: Any) -> list[tuple[Path, Any]]:
    """Every value of doc with its path, in document order."""
    out: list[tuple[Path, Any]] = []
    stack: list[tuple[Path, Any]] = [((), doc)]
    while stack:
        path, value = stack.pop()
        out.append((path, value))
        if isinstance(value, dict):
            stack += reversed([((*path, k), v) for k, v in value.items()])
        elif isinstance(value, list):
            stack += reversed([((*path, i), v) for i, v in enumerate(value)])
    return out


def _explain(raw: bytes, exc: orjson.JSONDecodeError) -> JsonError:
    """What orjson refused, named by place where the standard library can still read the document
    (it accepts NaN, infinities and lone surrogates; the place is what the client needs)."""
    if "depth limit" in str(exc):
        return JsonError(f"the document nests deeper than {MAX_DEPTH} levels")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return JsonError(f"the body is not valid JSON ({exc})")
    for path, value in _nodes(doc):
        if isinstance(value, float) and not math.isfinite(value):
            name = field_name(path)
            return JsonError(
                f"`{name or 'the body'}` is not a finite number (NaN and infinities are not JSON)", _param(path)
            )
        if isinstance(value, dict):
            for key in value:
                if not _encodable(key):
                    where = (*path, key.encode("utf-8", "replace").decode())
                    return JsonError(
                        f"a key of `{field_name(path) or 'the body'}` holds a lone surrogate", _param(where[:-1])
                    )
        if isinstance(value, str) and not _encodable(value):
            name = field_name(path)
            return JsonError(
                f"`{name or 'the body'}` holds a lone surrogate (\\ud800-\\udfff), which is not text", _param(path)
            )
    return JsonError(f"the body is not valid JSON ({exc})")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
