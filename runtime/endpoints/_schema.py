"""Request and answer schemas (JSON Schema, draft 7): the pieces every endpoint's schema is built
from, and the validator that checks a document against one before any policy runs.

How permissive the schemas are (the same rule for every endpoint, docs/validation.md):
- A field the API defines is checked for its type (and its range where the API gives one); a
  value of the wrong type is a 400 naming the field.
- A field the schema does not name is allowed, at the top level and inside objects: LiteLLM passes
  provider-specific parameters through (`top_k`, `safety_settings`, a message's `cache_control`),
  and new API fields appear faster than any table. Its key and every string in it are texts for
  the prompt policy like any other (runtime/endpoints/_walk.py), so allowing it hides nothing.
- Values an API keeps adding to (reasoning efforts, service tiers, voices, sizes) are plain
  strings. Roles are an enum: the policy reads texts by role.
- Content-part types (`messages[].content[].type` and the like) are an enum marked `x-open-enum`:
  enforced when the prompt policy enforces (a part the reader does not know is refused, not
  guessed at), dropped in monitor and off, where such a part passes and its strings are read as
  text as before.
- Nesting deeper than runtime.endpoints._json.MAX_DEPTH, duplicate keys, NaN, infinities and lone
  surrogates are refused by the JSON loader before the schema is looked at.

Validation is jsonschema-rs (compiled Rust): ~3 us for a 4 KB chat body, against ~13 us for
fastjsonschema's generated Python and ~370 us for jsonschema's interpreter (docs/validation.md;
tests/runtime/test_validation_cost.py keeps the budget).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Mapping
from typing import Any

import jsonschema_rs

from runtime.endpoints._walk import Path, field_name

__all__ = [
    "BOOLEAN",
    "COUNT",
    "FILE",
    "FORM_BOOLEAN",
    "FORM_INTEGER",
    "FORM_NUMBER",
    "INTEGER",
    "JSONRPC_ID",
    "METADATA",
    "NUMBER",
    "OBJECT",
    "POSITIVE",
    "STOP",
    "STRING",
    "STRINGS",
    "SchemaError",
    "Validator",
    "nullable",
    "open_enum",
    "parts",
    "usage",
    "validator",
]

STRING: dict[str, Any] = {"type": "string"}
STRINGS: dict[str, Any] = {"type": "array", "items": STRING}
BOOLEAN: dict[str, Any] = {"type": ["boolean", "null"]}
NUMBER: dict[str, Any] = {"type": ["number", "null"]}
INTEGER: dict[str, Any] = {"type": ["integer", "null"]}
POSITIVE: dict[str, Any] = {"type": ["integer", "null"], "minimum": 1}
# a token count an answer reports
COUNT: dict[str, Any] = {"type": ["integer", "null"], "minimum": 0}
OBJECT: dict[str, Any] = {"type": "object"}
METADATA: dict[str, Any] = {"type": ["object", "null"]}
STOP: dict[str, Any] = {"type": ["string", "array", "null"], "items": STRING}
JSONRPC_ID: dict[str, Any] = {"type": ["string", "integer", "null"]}
# multipart forms: every field is text; a number is written in digits, a file is a file part
FORM_INTEGER: dict[str, Any] = {"type": "string", "pattern": "^[0-9]{1,9}$"}
FORM_NUMBER: dict[str, Any] = {"type": "string", "pattern": "^-?[0-9]{1,9}(\\.[0-9]{1,9})?$"}
FORM_BOOLEAN: dict[str, Any] = {"type": "string", "enum": ["true", "false"]}
FILE: dict[str, Any] = {"type": "string", "format": "binary"}


def nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema, also accepting null (clients send `"field": null` for "not given")."""
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else list(kind or [])
    return {**schema, "type": [*kinds, "null"]} if kinds and "null" not in kinds else dict(schema)


def open_enum(values: tuple[str, ...]) -> dict[str, Any]:
    """A content-part type: one of `values` when the prompt policy enforces, any string otherwise."""
    return {"type": "string", "enum": list(values), "x-open-enum": True}


def parts(key: str, values: tuple[str, ...], fields: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A content part discriminated by `key` (`type`, `kind`): the key is one of `values` (an open
    enum), and a part of a type in `fields` has that type's fields, of their types. if/then rather
    than oneOf, so an error names the field inside the part, not "matches none of"."""
    return {
        "type": "object",
        "required": [key],
        "properties": {key: open_enum(values)},
        "allOf": [
            {"if": {"required": [key], "properties": {key: {"const": kind}}}, "then": then}
            for kind, then in fields.items()
        ],
    }


def usage(*names: str) -> dict[str, Any]:
    """An answer's usage object: the named counts are non-negative integers (null: not reported)."""
    return {"type": ["object", "null"], "properties": {name: COUNT for name in names}}


class SchemaError(ValueError):
    """A document that does not match its schema: `param` is the field (`messages[2].role`)."""

    def __init__(self, message: str, param: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class Validator:
    """One schema, compiled on first use in two variants: strict (open enums enforced) and
    lenient (open enums dropped)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self._compiled: dict[bool, jsonschema_rs.Draft7Validator] = {}
        self._lock = threading.Lock()

    def __call__(self, doc: Any, *, strict: bool = True) -> None:
        check = self._compiled.get(strict) or self._compile(strict)
        try:
            check.validate(doc)
        except jsonschema_rs.ValidationError as exc:
            raise _error(exc) from None
        except ValueError:  # a document too deep to convert (the JSON loader refuses those first)
            raise SchemaError("the body nests too deep", None) from None

    def _compile(self, strict: bool) -> jsonschema_rs.Draft7Validator:
        with self._lock:
            if strict not in self._compiled:
                schema = dict(self.schema) if strict else _drop_open_enums(self.schema)
                self._compiled[strict] = jsonschema_rs.Draft7Validator(schema, validate_formats=False)
            return self._compiled[strict]


_VALIDATORS: dict[int, Validator] = {}


def validator(schema: Mapping[str, Any]) -> Validator:
    """The (cached) validator of a schema constant."""
    found = _VALIDATORS.get(id(schema))
    if found is None or found.schema is not schema:
        found = _VALIDATORS[id(schema)] = Validator(schema)
    return found


def _drop_open_enums(schema: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(schema))
    stack: list[Any] = [out]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("x-open-enum"):
                node.pop("enum", None)
            stack += node.values()
        elif isinstance(node, list):
            stack += node
    return out


def _error(exc: jsonschema_rs.ValidationError) -> SchemaError:
    """The validator's error told as the API's: the field as `messages[0].role` and the rule, in
    words of the schema only (the library's own message quotes the value, which may be a prompt)."""
    path: Path = tuple(exc.instance_path)
    kind = exc.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        path = (*path, str(kind.property))
        return SchemaError(f"`{field_name(path)}` is required", field_name(path))
    param = field_name(path)
    where = f"`{param}`" if param else "the body"
    return SchemaError(f"{where} {_rule(kind)}", param or None)


def _rule(kind: Any) -> str:
    """What the value must be, from the kind of error."""
    K = jsonschema_rs.ValidationErrorKind
    if isinstance(kind, K.Type):
        types = [t for t in _names(kind.types) if t != "null"]
        return f"must be {' or '.join(_ARTICLES.get(t, t) for t in types) or 'null'}"
    if isinstance(kind, K.Enum):
        return f"must be one of {json.dumps(list(kind.options))}"
    if isinstance(kind, K.Constant):
        return f"must be {json.dumps(kind.expected_value)}"
    if isinstance(kind, K.Minimum | K.ExclusiveMinimum):
        return f"must be {'at least' if isinstance(kind, K.Minimum) else 'more than'} {kind.limit}"
    if isinstance(kind, K.Maximum | K.ExclusiveMaximum):
        return f"must be {'at most' if isinstance(kind, K.Maximum) else 'less than'} {kind.limit}"
    if isinstance(kind, K.MinItems):
        return f"must hold at least {kind.limit} item{'s' if kind.limit != 1 else ''}"
    if isinstance(kind, K.MaxItems):
        return f"must hold at most {kind.limit} items"
    if isinstance(kind, K.MinLength):
        return f"must be at least {kind.limit} character{'s' if kind.limit != 1 else ''} long"
    if isinstance(kind, K.MaxLength):
        return f"must be at most {kind.limit} characters long"
    if isinstance(kind, K.Pattern):
        return f"must match {kind.pattern}"
    if isinstance(kind, K.AnyOf):
        required = [_required(option) for option in kind.context]
        if all(required):
            return f"needs one of {', '.join(f'`{r}`' for r in required)}"
    return "does not have the form the API takes"


def _required(errors: list[Any]) -> str | None:
    kinds = [e.kind for e in errors]
    if len(kinds) == 1 and isinstance(kinds[0], jsonschema_rs.ValidationErrorKind.Required):
        return str(kinds[0].property)
    return None


def _names(types: Any) -> list[str]:
    return [types] if isinstance(types, str) else [str(t) for t in types]


_ARTICLES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}
