"""Check a spec document against the pydantic model; turn each pydantic error into a SpecError."""

from __future__ import annotations

import copy
import difflib
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from compiler.errors import SpecError
from compiler.litellm_surface import providers
from compiler.litellm_surface._base import PassThrough
from compiler.load import KeyPath, SourceMap, dotted
from compiler.model import SpecDocument

M = TypeVar("M", bound=BaseModel)


def check_document(document: dict[str, Any], smap: SourceMap) -> tuple[SpecDocument | None, list[SpecError]]:
    """The spec document and its schema errors; with errors, the document still comes back when
    leaving out the parts that failed (optional keys only) makes it valid, so the rules can check
    the rest in the same run."""
    doc, errors = check_against(SpecDocument, document, smap)
    if doc is None:
        doc = _without_failing_parts(SpecDocument, document)
    return doc, errors


_PRUNE_ROUNDS = 5


def _without_failing_parts(root: type[M], document: dict[str, Any]) -> M | None:
    for _ in range(_PRUNE_ROUNDS):
        try:
            return root.model_validate(document)
        except ValidationError as exc:
            paths = [_prunable(root, err) for err in exc.errors(include_url=False)]
        if any(p is None for p in paths):
            return None  # a required value or a named entry is wrong: the rules would see a different spec
        document = copy.deepcopy(document)
        for path in paths:
            assert path is not None
            _delete(document, path)
    return None


def _prunable(root: type[BaseModel], err: ErrorDetails) -> KeyPath | None:
    """The key to leave out for this error: the unknown key itself, or the nearest optional field
    of a model at or above the error."""
    loc: KeyPath = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    if err["type"] == "extra_forbidden":
        return loc
    for end in range(len(loc), 0, -1):
        key = loc[end - 1]
        model = _model_of(_annotation_at(root, loc[: end - 1]))
        if isinstance(key, str) and model is not None:
            field = next((f for n, f in model.model_fields.items() if key in (n, f.alias)), None)
            return loc[:end] if field is not None and not field.is_required() else None
    return None


def _annotation_at(root: type[BaseModel], loc: KeyPath) -> Any:
    annotation: Any = root
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return None
    return annotation


def _delete(document: Any, path: KeyPath) -> None:
    node = document
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict):
        node.pop(path[-1], None)


def check_against(
    root: type[M], document: dict[str, Any], smap: SourceMap
) -> tuple[M | None, list[SpecError]]:
    """Validate `document` as `root`; every pydantic error becomes a SpecError at its position."""
    try:
        return root.model_validate(document), []
    except ValidationError as exc:
        return None, [_to_spec_error(err, smap, root) for err in exc.errors(include_url=False)]


# Values the spec language no longer takes, with what to write instead.
_REPLACED = {
    "audio": 'write "speech" (text to speech) or "transcription" (speech to text): a TTS model does not transcribe',
}


def _to_spec_error(err: ErrorDetails, smap: SourceMap, root: type[BaseModel]) -> SpecError:
    loc: KeyPath = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    provider = next((p[9:-1] for p in err["loc"] if isinstance(p, str) and p.startswith("provider[")), None)
    on_key = "[key]" in err["loc"]  # a mapping key is wrong (a name), not its value
    kind = err["type"]
    at = dotted(loc)
    if kind == "extra_forbidden":
        key = str(loc[-1])
        if provider is not None and provider != "other" and providers.belongs_elsewhere(provider, key):
            return SpecError(smap.locate(loc, key=True), f'{provider}/ models do not take "{key}" ({dotted(loc)})',
                             providers.wrong_provider_hint(provider, key))
        allowed = providers.allowed(provider) if provider is not None else _field_names(root, loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f'did you mean "{close[0]}"?' if close else (
            "allowed keys: " + _some(allowed) if allowed else "remove it")
        where = smap.locate(loc, key=True)
        return SpecError(where, f'unknown key "{key}" in {dotted(loc[:-1]) or "document"}', hint)
    if kind == "missing" and len(loc) == 1:
        return SpecError(smap.locate(()), f'no spec file defines the required section "{loc[0]}"',
                         f"add `{loc[0]}:` to a file in specs/")
    if kind == "missing":
        parent = dotted(loc[:-1]) or "document"
        return SpecError(smap.locate(loc[:-1]), f'missing required key "{loc[-1]}" in {parent}', f"add `{loc[-1]}:`")
    where = smap.locate(loc, key=on_key)
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "gateway_rule":  # our own validators' errors carry their hint
        return SpecError(where, f"{at}: {err['msg']}" if at else err["msg"], str(ctx.get("hint", "")))
    if kind == "literal_error":
        return SpecError(where, f"{at}: {value!r} is not allowed", _literal_hint(root, loc, value, ctx))
    if kind == "string_pattern_mismatch":
        if on_key:
            return SpecError(where, f"{dotted(loc[:-1])}: the name {value!r} has the wrong format", _pattern_hint(loc))
        return SpecError(where, f"{at}: {value!r} has the wrong format", _pattern_hint(loc))
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}[kind]
        limit = next(iter(ctx.values()), "")
        hint = "a port must be between 1 and 65535" if _is_port(loc) else f"use a value {bound} {limit}"
        return SpecError(where, f"{at}: {value!r} is out of range (must be {bound} {limit})", hint)
    if kind == "too_short":
        return SpecError(where, f"{at}: must not be empty", "add at least one entry")
    msg = err["msg"].removeprefix("Value error, ")
    return SpecError(where, f"{at}: {msg}" if at else msg, _type_hint(kind))


def _some(names: list[str], shown: int = 15) -> str:
    """A few of the allowed keys (LiteLLM's sections take hundreds): the schema has them all."""
    names = sorted(names)
    more = f", ... ({len(names)} in all; see the JSON schema)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _is_port(loc: KeyPath) -> bool:
    return bool(loc) and str(loc[-1]) in ("port", "container_port")


def _literal_hint(root: type[BaseModel], loc: KeyPath, value: Any, ctx: dict[str, Any]) -> str:
    """"did you mean" for a misspelt value, as for a misspelt key; else the values allowed."""
    if isinstance(value, str) and value in _REPLACED:
        return _REPLACED[value]
    allowed = [str(v) for v in _literal_values(root, loc)]
    close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6) if allowed else []
    if close:
        return f'did you mean "{close[0]}"?'
    return f"use one of {ctx.get('expected', '')}"


def _literal_values(root: type[BaseModel], loc: KeyPath) -> tuple[Any, ...]:
    annotation: Any = root
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
    }.get(kind, "see the JSON schemas in schemas/")


def _field_names(root: type[BaseModel], loc: KeyPath) -> list[str]:
    """The keys the model accepts at `loc` (for "did you mean")."""
    annotation: Any = root
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    model = _model_of(annotation)
    if model is None:
        return []
    if issubclass(model, PassThrough):  # LiteLLM's sections: the typed keys and the names passed through
        return sorted(model.accepted_keys())
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
