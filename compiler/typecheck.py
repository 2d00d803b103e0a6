"""Check a spec document against the pydantic model; turn each pydantic error into a SpecError."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from compiler.errors import SpecError
from compiler.load import KeyPath, SourceMap
from compiler.model import SpecDocument


def check_document(document: dict[str, Any], smap: SourceMap) -> tuple[SpecDocument | None, list[SpecError]]:
    try:
        return SpecDocument.model_validate(document), []
    except ValidationError as exc:
        return None, [_to_spec_error(err, smap) for err in exc.errors(include_url=False)]


# Values the spec language no longer takes, with what to write instead.
_REPLACED = {
    "audio": 'write "speech" (text to speech) or "transcription" (speech to text): a TTS model does not transcribe',
}


def _to_spec_error(err: ErrorDetails, smap: SourceMap) -> SpecError:
    loc: KeyPath = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    on_key = "[key]" in err["loc"]  # a mapping key is wrong (a name), not its value
    kind = err["type"]
    dotted = _dotted(loc)
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _field_names(loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f'did you mean "{close[0]}"?' if close else (
            "allowed keys: " + ", ".join(sorted(allowed)) if allowed else "remove it")
        where = smap.locate(loc, key=True)
        return SpecError(where, f'unknown key "{key}" in {_dotted(loc[:-1]) or "document"}', hint)
    if kind == "missing" and len(loc) == 1:
        return SpecError(smap.locate(()), f'no spec file defines the required section "{loc[0]}"',
                         f"add `{loc[0]}:` to a file in specs/")
    if kind == "missing":
        parent = _dotted(loc[:-1]) or "document"
        return SpecError(smap.locate(loc[:-1]), f'missing required key "{loc[-1]}" in {parent}', f"add `{loc[-1]}:`")
    where = smap.locate(loc, key=on_key)
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "literal_error":
        return SpecError(where, f"{dotted}: {value!r} is not allowed", _literal_hint(loc, value, ctx))
    if kind == "string_pattern_mismatch":
        if on_key:
            return SpecError(where, f"{_dotted(loc[:-1])}: the name {value!r} has the wrong format", _pattern_hint(loc))
        return SpecError(where, f"{dotted}: {value!r} has the wrong format", _pattern_hint(loc))
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}[kind]
        limit = next(iter(ctx.values()), "")
        hint = "a port must be between 1 and 65535" if _is_port(loc) else f"use a value {bound} {limit}"
        return SpecError(where, f"{dotted}: {value!r} is out of range (must be {bound} {limit})", hint)
    if kind == "too_short":
        return SpecError(where, f"{dotted}: must not be empty", "add at least one entry")
    msg = err["msg"].removeprefix("Value error, ")
    return SpecError(where, f"{dotted}: {msg}" if dotted else msg, _type_hint(kind))


def _dotted(loc: KeyPath) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _is_port(loc: KeyPath) -> bool:
    return bool(loc) and str(loc[-1]) in ("port", "container_port")


def _literal_hint(loc: KeyPath, value: Any, ctx: dict[str, Any]) -> str:
    """"did you mean" for a misspelt value, as for a misspelt key; else the values allowed."""
    if isinstance(value, str) and value in _REPLACED:
        return _REPLACED[value]
    allowed = [str(v) for v in _literal_values(loc)]
    close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6) if allowed else []
    if close:
        return f'did you mean "{close[0]}"?'
    return f"use one of {ctx.get('expected', '')}"


def _literal_values(loc: KeyPath) -> tuple[Any, ...]:
    annotation: Any = SpecDocument
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return ()
    for candidate in _unwrap(annotation):
        if typing.get_origin(candidate) is typing.Literal:
            return typing.get_args(candidate)
    return ()


def _pattern_hint(loc: KeyPath) -> str:
    last = str(loc[-1]) if loc else ""
    if loc[:1] == ("mcp_servers",) and len(loc) == 2:
        return "use lowercase letters, digits and '_', starting with a letter: LiteLLM names tools <server>-<tool>"
    if last == "version":
        return "use a semantic version such as 1.2.0"
    if loc[:1] == ("redis",) and last == "url":
        return "use redis://host:port/db; a password goes in redis.password_env, never in the URL"
    if "sentinels" in loc:
        return "write host:port, e.g. redis-sentinel-0.redis:26379"
    if last == "for":
        return "use a Prometheus duration such as 30s, 5m or 1h"
    if last.endswith("_env"):
        return "name an environment variable in UPPER_SNAKE_CASE"
    if last.endswith("url"):
        return "use an absolute http(s) URL such as http://llm-provider:8001/v1"
    if last in ("path", "live", "ready"):
        return "start the path with /"
    return "use lowercase letters, digits, '-' and '_', starting with a letter"


def _type_hint(kind: str) -> str:
    return {
        "int_parsing": "write a whole number",
        "int_type": "write a whole number",
        "float_parsing": "write a number",
        "bool_parsing": "write true or false",
        "bool_type": "write true or false",
        "string_type": "quote the value",
        "dict_type": "write a mapping (key: value)",
        "list_type": "write a list ([a, b] or one '- item' per line)",
        "model_type": "write a mapping (key: value)",
        "model_attributes_type": "write a mapping (key: value)",
    }.get(kind, "see schemas/spec.schema.json")


def _field_names(loc: KeyPath) -> list[str]:
    """The keys the model accepts at `loc` (for "did you mean")."""
    annotation: Any = SpecDocument
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    model = _model_of(annotation)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [a for arg in typing.get_args(annotation) for a in _unwrap(arg)]
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return [annotation]


def _step(annotation: Any, part: str | int) -> Any:
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            for name, f in candidate.model_fields.items():
                if part in (name, f.alias):
                    return f.annotation
            return None
        origin = typing.get_origin(candidate)
        if origin is dict:
            return typing.get_args(candidate)[1]
        if origin is list and isinstance(part, int):
            return typing.get_args(candidate)[0]
    return None
