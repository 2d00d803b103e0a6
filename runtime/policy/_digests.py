"""What proves a bundle's content: the file digests its `.manifest` lists, the revision derived
from them, and OPA's file hashes (the ones a `.signatures.json` signs). One home for the compiler
that writes them (compiler/emit/opa_bundle.py, compiler/bundle_sign.py) and the runtime that
checks them (runtime/policy/_trust.py).

- `metadata.files` of `.manifest`: `{"<path>": "sha256:<hex>"}`, the sha256 of the raw bytes of
  every other file of the bundle (`.signatures.json` aside, which is added after the compile).
- `revision`: `prompt-<version>.output-<version>.<16 hex>`, the hex from OPA's hash of the manifest
  without its revision, so it changes whenever any file, a version, a mode or the manifest changes.
- OPA's file hash (v1/bundle/hash.go, verify.go): the raw bytes for Rego and policy.wasm; for the
  structured files (`data.json`, `.manifest`) the parsed JSON, walked with object keys sorted and
  numbers as written, so the signature does not depend on whitespace or key order.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "FILE_DIGESTS_KEY",
    "MANIFEST",
    "POLICIES",
    "SIGNATURES",
    "file_digests",
    "opa_file_hash",
    "opa_json_hash",
    "parse_json",
    "revision",
]

MANIFEST = ".manifest"
SIGNATURES = ".signatures.json"
POLICIES = ("prompt", "output")
FILE_DIGESTS_KEY = "files"  # .manifest metadata.files
# OPA's structured documents (bundle.IsStructuredDoc): hashed as JSON values, not as bytes.
_STRUCTURED = frozenset({"data.json", "data.yaml", "signatures.json", MANIFEST})
# OPA's HashingAlgorithm names; MD5 and SHA-1 are left out on purpose (collisions are practical).
HASHES: dict[str, Callable[[], Any]] = {
    "SHA-224": hashlib.sha224,
    "SHA-256": hashlib.sha256,
    "SHA-384": hashlib.sha384,
    "SHA-512": hashlib.sha512,
    "SHA-512-224": lambda: hashlib.new("sha512_224"),
    "SHA-512-256": lambda: hashlib.new("sha512_256"),
}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class _Number(str):
    """A JSON number as written (Go's json.Number): OPA hashes its literal, not a float."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """A JSON document as OPA reads it for hashing (util.Unmarshal: BOM stripped, numbers kept as
    written). Raises ValueError for anything that is not UTF-8 JSON."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    return json.loads(raw.decode("utf-8"), parse_int=_Number, parse_float=_Number, parse_constant=_no_constant)


def file_digests(files: Mapping[str, bytes]) -> dict[str, str]:
    """`metadata.files` of a manifest: every file but the manifest and the signatures, by path."""
    return {
        name: "sha256:" + hashlib.sha256(content).hexdigest()
        for name, content in sorted(files.items())
        if name not in (MANIFEST, SIGNATURES)
    }


def revision(manifest: Mapping[str, Any]) -> str:
    """The revision a manifest must carry: the versions people read, then a digest of the rest of
    the manifest (which lists the digest of every file)."""
    policies: Mapping[str, Any] = (manifest.get("metadata") or {}).get("policies") or {}
    versions = [f"{name}-{policies[name]['version']}" for name in POLICIES if name in policies]
    rest = {key: value for key, value in manifest.items() if key != "revision"}
    return ".".join([*versions, opa_json_hash(rest)[:16]])


def opa_file_hash(name: str, content: bytes, algorithm: str = "SHA-256") -> str:
    """The hex digest OPA computes for a bundle file (what a signature's `files[].hash` holds)."""
    if algorithm not in HASHES:
        raise ValueError(f"hash algorithm {algorithm!r} is not one of {', '.join(HASHES)}")
    if name.rsplit("/", 1)[-1] in _STRUCTURED:
        return opa_json_hash(parse_json(content), algorithm)
    h = HASHES[algorithm]()
    h.update(content)
    return str(h.hexdigest())


def opa_json_hash(value: Any, algorithm: str = "SHA-256") -> str:
    """OPA's hash of a JSON value (bundle/hash.go `walk`): `{`, each key in sorted order as a JSON
    string, `:`, the value, commas between, `}`; arrays likewise; primitives as Go encodes them."""
    h = HASHES[algorithm]()
    _walk(value, h.update)
    return str(h.hexdigest())


def _walk(value: Any, write: Callable[[bytes], Any]) -> None:
    if isinstance(value, Mapping):
        write(b"{")
        for i, key in enumerate(sorted(value)):  # code point order is UTF-8 byte order, as Go sorts
            if i:
                write(b",")
            write(_string(key))
            write(b":")
            _walk(value[key], write)
        write(b"}")
    elif isinstance(value, list | tuple):
        write(b"[")
        for i, item in enumerate(value):
            if i:
                write(b",")
            _walk(item, write)
        write(b"]")
    else:
        write(_primitive(value))


def _primitive(value: Any) -> bytes:
    if isinstance(value, _Number):
        return str.__str__(value).encode()
    if value is None:
        return b"null"
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, str):
        return _string(value)
    # A float has no single spelling; every number reaching here comes from parse_json or is an int.
    raise TypeError(f"cannot hash a {type(value).__name__} as OPA does")


def _string(text: str) -> bytes:
    """A string as Go's json.Encoder writes it with SetEscapeHTML(false): Python's escaping of
    quotes, backslashes and control characters is the same; Go also escapes U+2028 and U+2029 and
    reads a lone surrogate as U+FFFD."""
    text = _LONE_SURROGATE.sub("\ufffd", text)
    out = json.dumps(text, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return out.encode("utf-8")
