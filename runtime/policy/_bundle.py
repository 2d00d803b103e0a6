"""Reading a compiled policy bundle (OPA's bundle format) from a .tar.gz or a directory, and
proving it before anything is loaded from it (runtime/policy/_trust.py): the manifest's digests,
the signature where there is one or the specs require one, the modes production allows.

Only what the in-process engines need: the Rego modules, data.json, .manifest and, when the
compiler could build one, policy.wasm. Anything unreadable or unproven is a BundleError with a
one-line reason.
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

from runtime.policy._digests import MANIFEST, POLICIES, SIGNATURES
from runtime.policy._errors import BundleError
from runtime.policy._trust import BundleTrust, check_manifest, check_modes, check_signature

__all__ = ["MAX_BUNDLE_BYTES", "Bundle", "BundleError", "read_bundle", "read_bundle_files"]

# A bundle larger than this (compressed, or all its files together) is not one the compiler wrote.
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
_MAX_CONTENT_BYTES = 4 * MAX_BUNDLE_BYTES


@dataclass(frozen=True)
class Bundle:
    modules: Mapping[str, str]  # path inside the bundle -> Rego text
    data: Mapping[str, Any]  # data.json
    manifest: Mapping[str, Any]  # .manifest
    wasm: bytes | None  # policy.wasm, when the bundle holds one
    digest: str  # sha256 of what was read (the file, or the directory's files)
    signed_by: str | None = None  # the key id of a verified signature; None: unsigned

    @property
    def revision(self) -> str:
        return str(self.manifest.get("revision", ""))

    @property
    def versions(self) -> dict[str, str]:
        policies = (self.manifest.get("metadata") or {}).get("policies") or {}
        return {
            name: str(policies[name]["version"])
            for name in POLICIES
            if isinstance(policies.get(name), Mapping) and "version" in policies[name]
        }

    @property
    def modes(self) -> dict[str, str]:
        """The mode data.json sets for each policy (what the store acts on)."""
        return {name: str(self.config(name).get("mode")) for name in POLICIES}

    def config(self, policy: str) -> Mapping[str, Any]:
        """data.gateway.config.<policy>: the policy's mode and compiled data."""
        config = self.data.get("gateway", {}).get("config", {}).get(policy)
        if not isinstance(config, Mapping):
            raise BundleError(f"data.json has no gateway.config.{policy}")
        return config


def read_bundle(path: Path, trust: BundleTrust | None = None) -> Bundle:
    """The bundle at path (a .tar.gz file or a directory with the same layout), once proven:
    its manifest's digests always, its signature and modes as `trust` requires."""
    files, digest = read_bundle_files(path)
    return _parse(files, digest, trust or BundleTrust())


def read_bundle_files(path: Path) -> tuple[dict[str, bytes], str]:
    """Every file of the bundle at path by its path inside the bundle, and the sha256 of what was
    read (the archive, or the directory's files); nothing checked yet."""
    try:
        if path.is_dir():
            files = _read_dir(path)
            return files, _digest_of_files(files)
        raw = path.read_bytes()
        if len(raw) > MAX_BUNDLE_BYTES:
            raise BundleError(f"{len(raw)} bytes is larger than a policy bundle can be")
        return _read_tar(raw), hashlib.sha256(raw).hexdigest()
    except FileNotFoundError:
        raise BundleError("no such file or directory") from None
    except OSError as exc:
        raise BundleError(f"cannot read it: {exc.strerror or exc}") from None


def fingerprint(path: Path) -> tuple[int, ...]:
    """Cheap change detection (size, mtime, inode of every file) before hashing any content."""
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    out: list[int] = []
    for p in paths:
        st = p.stat()
        out += [st.st_size, st.st_mtime_ns, st.st_ino]
    return tuple(out)


def _read_tar(raw: bytes) -> dict[str, bytes]:
    """Every regular file of the archive. Anything OPA and this reader could read differently is
    refused: a name twice, a link, a path outside the bundle, more content than a bundle has."""
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
            for member in tar:
                if member.isdir():
                    continue
                name = _normalise(member.name)
                if not member.isfile():
                    raise BundleError(f"{name} is a link or a special file, which a bundle does not hold")
                if name in files:
                    raise BundleError(f"{name} is in the archive twice")
                total += member.size
                if total > _MAX_CONTENT_BYTES:
                    raise BundleError("the archive unpacks to more than a policy bundle can be")
                handle = tar.extractfile(member)
                files[name] = handle.read() if handle is not None else b""
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise BundleError(f"not a readable .tar.gz bundle ({type(exc).__name__}: {exc})") from None
    return files


def _read_dir(root: Path) -> dict[str, bytes]:
    files = {}
    for p in sorted(root.rglob("*")):
        name = _normalise(p.relative_to(root).as_posix())
        if p.is_symlink():
            raise BundleError(f"{name} is a link, which a bundle does not hold")
        if p.is_file():
            files[name] = p.read_bytes()
    return files


def _normalise(name: str) -> str:
    name = name.lstrip("/")
    name = name[2:] if name.startswith("./") else name
    parts = name.split("/")
    if not name or any(part in ("", ".", "..") for part in parts):
        raise BundleError(f"{name!r} is not a path inside a bundle")
    # OPA takes any file ending in signatures.json for the signatures; only the root one is ours.
    if name.endswith("signatures.json") and name != SIGNATURES:
        raise BundleError(f"{name} would be read by OPA as the bundle's signatures")
    return name


def _digest_of_files(files: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}\0{hashlib.sha256(files[name]).hexdigest()}\n".encode())
    return h.hexdigest()


def _parse(files: Mapping[str, bytes], digest: str, trust: BundleTrust) -> Bundle:
    for required in (MANIFEST, "data.json"):
        if required not in files:
            raise BundleError(f"{required} is missing: not a bundle written by gatewayctl compile")
    manifest = _json(files, MANIFEST)
    check_manifest(files, manifest)
    signed_by = check_signature(files, trust)
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
    bundle = Bundle(modules, data, manifest, files.get("policy.wasm"), digest, signed_by)
    missing = [name for name in POLICIES if name not in bundle.versions]
    if missing:
        raise BundleError(f".manifest names no version for the {' and '.join(missing)} policy")
    for name in POLICIES:
        if bundle.config(name).get("mode") not in ("enforce", "monitor", "off"):
            raise BundleError(f"data.json: gateway.config.{name}.mode is not enforce, monitor or off")
    check_modes(manifest, bundle.modes, trust)
    return bundle


def _json(files: Mapping[str, bytes], name: str) -> dict[str, Any]:
    try:
        value = json.loads(files[name])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{name} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise BundleError(f"{name} is not a JSON object")
    return value
