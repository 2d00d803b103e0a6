"""Hypothesis strategies for the robustness suite, generated from the endpoints' request schemas
(runtime/endpoints/*.py), plus the mutations a careless or hostile client makes of a request.

Why not schemathesis or hypothesis-jsonschema: both install and work offline here, but generate
~55 ms per case for the chat schema (its if/then parts); 2,000 cases would spend two minutes on
generation alone. These strategies read the same schemas (the subset they use: type lists,
properties, required, items, enum, const, ranges, the content-part if/then of `parts()`) at
~1 ms per case.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from runtime.endpoints import ENDPOINTS, Endpoint

# Text a client sends: any code point but surrogates (the mutations add those on purpose).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
KEYS = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=8)
NUMBERS = st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False)
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
ANY_JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3), max_leaves=6
)


def from_schema(schema: Mapping[str, Any], models: Mapping[str, list[str]] | None = None) -> st.SearchStrategy[Any]:
    """Values that match `schema` (the subset the gateway's schemas use)."""
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(list(schema["enum"]))
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    if not kinds:
        return ANY_JSON
    return st.one_of([_of_type(kind, schema) for kind in kinds])


def _of_type(kind: str, schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.floats(low, high, allow_nan=False, allow_infinity=False) | st.integers(
            int(low) if low is not None else -1000, int(high) if high is not None else 1000
        ).filter(lambda n: (low is None or n >= low) and (high is None or n <= high))
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return TEXT.filter(lambda s: len(s) >= schema.get("minLength", 0)) if schema.get("minLength") else TEXT
    if kind == "array":
        low = schema.get("minItems", 0)
        return st.lists(from_schema(schema.get("items", {})), min_size=low, max_size=max(low, 3))
    return _object(schema)


def _object(schema: Mapping[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    variants = _variants(schema)
    if variants:
        key, kinds = variants
        return st.sampled_from(kinds).flatmap(lambda kind: _object(_merge(schema, key, kind)))
    for option in schema.get("anyOf", []):  # anyOf of requireds: take the first
        required |= set(option.get("required", []))
    return st.fixed_dictionaries(
        {k: from_schema(v) for k, v in properties.items() if k in required},
        optional={k: from_schema(v) for k, v in properties.items() if k not in required},
    )


def _variants(schema: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """A content part (runtime.endpoints._schema.parts): its discriminating key and its kinds."""
    for key, sub in schema.get("properties", {}).items():
        if sub.get("x-open-enum"):
            return key, list(sub["enum"])
    return None


def _merge(schema: Mapping[str, Any], key: str, kind: str) -> dict[str, Any]:
    """The part schema for one kind: the key fixed, the kind's own fields and requireds added."""
    properties = {**schema.get("properties", {}), key: {"const": kind}}
    required = list(schema.get("required", []))
    for branch in schema.get("allOf", []):
        if branch.get("if", {}).get("properties", {}).get(key, {}).get("const") == kind:
            properties.update(branch["then"].get("properties", {}))
            required += branch["then"].get("required", [])
    return {"type": "object", "properties": properties, "required": required}


# --- requests --------------------------------------------------------------------------------------


@dataclass
class Case:
    """One request: what to send, and what was done to it (for the failure message)."""

    endpoint: str
    method: str
    path: str
    json_body: Any = None  # sent as JSON (json.dumps, so NaN and "\ud800" escapes go out as they are)
    raw: bytes | None = None  # sent as it is, with content-type application/json
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)
    mutation: str = "none"

    def describe(self) -> str:
        body = self.raw[:300] if self.raw is not None else json.dumps(self.json_body)[:300]
        return f"{self.method} {self.path} [{self.mutation}] {body!r} {self.form} {list(self.files)}"


def request_bodies(endpoint: Endpoint, models: Mapping[str, list[str]]) -> st.SearchStrategy[Any]:
    """Valid bodies of an endpoint, `model` one of the environment's models for its capability."""
    schema = dict(endpoint.request_schema or {})
    names = models.get(endpoint.capability or "")
    if endpoint.model_field and names:
        schema["properties"] = {**schema.get("properties", {}), endpoint.model_field: {"enum": names}}
        schema["required"] = sorted({*schema.get("required", []), endpoint.model_field})
    return from_schema(schema)


def json_paths(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in doc (the root too)."""
    out = [path]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += json_paths(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += json_paths(v, (*path, i))
    return out


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    out = json.loads(json.dumps(doc))
    node = out
    for segment in path[:-1]:
        node = node[segment]
    node[path[-1]] = value
    return out


DEEP: Any = []
for _ in range(80):
    DEEP = [DEEP]
# What goes in place of a value: other types, hostile values.
REPLACEMENTS = st.sampled_from(
    [
        None, True, 0, -1, 1.5, 10**30, "", "x", "\ud800", "a\udc00b", float("nan"), float("inf"),
        [], [None], {}, {"a": {"b": 1}}, DEEP, {"type": "video_frame", "frame": "x"},
    ]
) | ANY_JSON


@st.composite
def mutated(draw: st.DrawFn, body: Any) -> tuple[str, Any, bytes | None]:
    """(what was done, the JSON body, or raw bytes to send instead)."""
    kind = draw(
        st.sampled_from(["none", "replace", "replace", "replace", "delete", "extra", "duplicate", "raw", "deep"])
    )
    places = json_paths(body)
    if kind == "none":
        return kind, body, None
    if kind == "replace":
        path = draw(st.sampled_from(places))
        return f"replace {path}", replaced(body, path, draw(REPLACEMENTS)), None
    if kind == "delete":
        keyed = [p for p in places if p and isinstance(p[-1], str)]
        if not keyed:
            return "none", body, None
        path = draw(st.sampled_from(keyed))
        parent = replaced(body, (), body)
        node = parent
        for segment in path[:-1]:
            node = node[segment]
        del node[path[-1]]
        return f"delete {path}", parent, None
    if kind == "extra":
        objects = [p for p in places if isinstance(_at(body, p), dict)]
        path = draw(st.sampled_from(objects)) if objects else ()
        key = draw(KEYS.filter(lambda k: not isinstance(_at(body, path), dict) or k not in _at(body, path)))
        return f"extra {path}+{key}", replaced(body, (*path, key), draw(ANY_JSON)), None
    if kind == "duplicate":
        text = json.dumps(body)
        if not isinstance(body, dict) or not body:
            return "none", body, None
        key = draw(st.sampled_from(sorted(body)))
        twice = "{" + json.dumps(key) + ": " + json.dumps(draw(SCALARS)) + ", "
        return f"duplicate {key}", None, text.replace("{", twice, 1).encode()
    if kind == "deep":
        path = draw(st.sampled_from(places))
        nesting = draw(st.integers(60, 1100))
        text = json.dumps(replaced(body, path, "__DEEP__")).replace('"__DEEP__"', "[" * nesting + "]" * nesting)
        return f"deep {nesting} at {path}", None, text.encode()
    raw = draw(
        st.sampled_from([b"", b"{", b"[]", b"null", b"\xef\xbb\xbf{}", b'{"a": NaN}', b"\xff\xfe", b'{"model": 1e400}'])
        | st.binary(max_size=20)
    )
    return "raw", None, raw


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for segment in path:
        doc = doc[segment]
    return doc


PATHS = {
    "chat": "/v1/chat/completions",
    "completions": "/v1/completions",
    "responses": "/v1/responses",
    "messages": "/v1/messages",
    "embeddings": "/v1/embeddings",
    "images_generations": "/v1/images/generations",
    "audio_speech": "/v1/audio/speech",
    "moderations": "/v1/moderations",
    "rerank": "/v1/rerank",
    "batches": "/v1/batches",
    "mcp": "/mcp",
    "a2a": "/a2a/agent-1",
}
FORMS = {"images_edits": "/v1/images/edits", "audio_transcriptions": "/v1/audio/transcriptions", "files": "/v1/files"}


@st.composite
def json_case(draw: st.DrawFn, name: str, models: Mapping[str, list[str]]) -> Case:
    endpoint = ENDPOINTS[name]
    body = draw(request_bodies(endpoint, models))
    mutation, body, raw = draw(mutated(body))
    return Case(name, "POST", PATHS[name], json_body=body, raw=raw, mutation=mutation)


@st.composite
def form_case(draw: st.DrawFn, name: str, models: Mapping[str, list[str]]) -> Case:
    endpoint = ENDPOINTS[name]
    fields = draw(request_bodies(endpoint, models))
    schema = endpoint.request_schema or {}
    binary = {k for k, v in schema.get("properties", {}).items() if v.get("format") == "binary"}
    form = {k: str(v) for k, v in fields.items() if k not in binary and v is not None}
    files = {k: ("upload.bin", draw(st.binary(max_size=40)), "application/octet-stream") for k in fields if k in binary}
    mutation = draw(st.sampled_from(["none", "drop a file", "a file as text", "a text as a file"]))
    if mutation == "drop a file" and files:
        files.pop(sorted(files)[0])
    elif mutation == "a file as text" and files:
        key = sorted(files)[0]
        form[key] = files.pop(key)[1].decode("latin-1")
    elif mutation == "a text as a file" and form:
        key = sorted(form)[0]
        files[key] = ("x.txt", form.pop(key).encode(), "text/plain")
    if name == "files" and form.get("purpose") == "batch":
        form["purpose"] = "user_data"  # batch inputs: the JSON cases cover their lines
    return Case(name, "POST", FORMS[name], form=form, files=files, mutation=mutation)


@st.composite
def read_case(draw: st.DrawFn) -> Case:
    """A route that carries no body: path parameters and a query from the client."""
    template = draw(
        st.sampled_from(
            ["/v1/files/{}", "/v1/files/{}/content", "/v1/batches/{}", "/v1/responses/{}", "/v1/files?after={}"]
        )
    )
    value = draw(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#%&"),
                         min_size=1, max_size=10))
    method = "GET"
    return Case("read", method, template.format(value), mutation="read")


def cases(models: Mapping[str, list[str]]) -> st.SearchStrategy[Case]:
    return st.one_of(
        [json_case(name, models) for name in PATHS]
        + [form_case(name, models) for name in FORMS]
        + [read_case()]
    )
