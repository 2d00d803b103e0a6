"""Reading a compiled policy bundle (OPA's bundle format) from a .tar.gz or a directory.

Only what the in-process engines need: the Rego modules, data.json, .manifest and, when the
compiler could build one, policy.wasm. Anything unreadable is a BundleError with a one-line reason.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MAX_BUNDLE_BYTES", "Bundle", "BundleError", "read_bundle"]

# A bundle larger than this is not one the compiler wrote.
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
POLICIES = ("prompt", "output")


class BundleError(Exception):
    """The bundle is missing, unreadable or not a policy bundle; the message is one line."""


@dataclass(frozen=True)
class Bundle:
    modules: Mapping[str, str]  # path inside the bundle -> Rego text
    data: Mapping[str, Any]  # data.json
    manifest: Mapping[str, Any]  # .manifest
    wasm: bytes | None  # policy.wasm, when the bundle holds one
    digest: str  # sha256 of what was read (the file, or the directory's files)

    @property
    def revision(self) -> str:
        return str(self.manifest.get("revision", ""))

    @property
    def versions(self) -> dict[str, str]:
        policies: Mapping[str, Any] = self.manifest.get("metadata", {}).get("policies", {})
        return {name: str(policies[name]["version"]) for name in POLICIES if name in policies}

    def config(self, policy: str) -> Mapping[str, Any]:
        """data.gateway.config.<policy>: the policy's mode and compiled data."""
        config = self.data.get("gateway", {}).get("config", {}).get(policy)
        if not isinstance(config, Mapping):
            raise BundleError(f"data.json has no gateway.config.{policy}")
        return config


def read_bundle(path: Path) -> Bundle:
    """The bundle at path: a .tar.gz file or a directory with the same layout."""
    try:
        if path.is_dir():
            files = _read_dir(path)
            digest = _digest_of_files(files)
        else:
            raw = path.read_bytes()
            if len(raw) > MAX_BUNDLE_BYTES:
                raise BundleError(f"{len(raw)} bytes is larger than a policy bundle can be")
            files = _read_tar(raw)
            digest = hashlib.sha256(raw).hexdigest()
    except FileNotFoundError:
        raise BundleError("no such file or directory") from None
    except OSError as exc:
        raise BundleError(f"cannot read it: {exc.strerror or exc}") from None
    return _parse(files, digest)


def fingerprint(path: Path) -> tuple[int, ...]:
    """Cheap change detection (size, mtime, inode of every file) before hashing any content."""
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    out: list[int] = []
    for p in paths:
        st = p.stat()
        out += [st.st_size, st.st_mtime_ns, st.st_ino]
    return tuple(out)


def _read_tar(raw: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                name = _normalise(member.name)
                handle = tar.extractfile(member)
                if handle is not None:
                    files[name] = handle.read()
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise BundleError(f"not a readable .tar.gz bundle ({type(exc).__name__}: {exc})") from None
    return files


def _read_dir(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _normalise(name: str) -> str:
    name = name.lstrip("/")
    return name[2:] if name.startswith("./") else name


def _digest_of_files(files: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}\0{hashlib.sha256(files[name]).hexdigest()}\n".encode())
    return h.hexdigest()


def _parse(files: Mapping[str, bytes], digest: str) -> Bundle:
    for required in (".manifest", "data.json"):
        if required not in files:
            raise BundleError(f"{required} is missing: not a bundle written by gatewayctl compile")
    manifest = _json(files, ".manifest")
    data = _json(files, "data.json")
    modules = {}
    for name, raw in sorted(files.items()):
        if name.endswith(".rego"):
            try:
                modules[name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise BundleError(f"{name} is not UTF-8 text") from None
    if not modules:
        raise BundleError("the bundle holds no Rego modules")
    bundle = Bundle(modules, data, manifest, files.get("policy.wasm"), digest)
    missing = [name for name in POLICIES if name not in bundle.versions]
    if missing:
        raise BundleError(f".manifest names no version for the {' and '.join(missing)} policy")
    for name in POLICIES:
        if bundle.config(name).get("mode") not in ("enforce", "monitor", "off"):
            raise BundleError(f"data.json: gateway.config.{name}.mode is not enforce, monitor or off")
    return bundle


def _json(files: Mapping[str, bytes], name: str) -> dict[str, Any]:
    try:
        value = json.loads(files[name])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{name} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise BundleError(f"{name} is not a JSON object")
    return value
