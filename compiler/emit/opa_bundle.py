"""The OPA bundle of one environment: `opa/bundle.tar.gz` in OPA's bundle format.

- `.manifest`: `revision`, `roots`, `rego_version` 1, and metadata: the environment, each policy's
  version, mode and digest, and `files`, the sha256 of every other file of the bundle;
- the Rego modules of rego/ (tests excluded);
- `data.json`: `gateway.config.<policy>`, what the Rego reads (compiler/policy_data.py).

The revision is `prompt-<version>.output-<version>.<16 hex>`, the hex a digest of the manifest
without its revision (runtime/policy/_digests.py): it changes whenever any file, version or mode
does, and the runtime recomputes it before it loads a bundle. `seal` writes the digests and the
revision; whoever adds a file (policy.wasm, compiler/opa_wasm.py) seals again.

The bytes are deterministic: entries sorted, tar metadata fixed (mtime 0, uid/gid 0, mode 0644),
gzip header without name or time. policy.wasm is added by compiler/opa_wasm.py (it is the one
step that runs a program, so it is not part of this pure emitter).
The compiled bundles are unsigned; `gatewayctl bundle sign` (compiler/bundle_sign.py) adds
`.signatures.json` in the release step.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Mapping
from typing import Any

from compiler.emit._json import dump_json
from compiler.plan import EnvPlan
from compiler.policy_data import config
from compiler.policy_versions import policy_digest
from runtime.policy._digests import FILE_DIGESTS_KEY, MANIFEST, file_digests, revision

__all__ = ["BUNDLE_PATH", "bundle_files", "read_files", "render_env", "seal", "tar_gz"]

BUNDLE_PATH = "opa/bundle.tar.gz"
ROOTS = ["gateway"]


def render_env(env: EnvPlan) -> dict[str, str | bytes]:
    return {BUNDLE_PATH: tar_gz(bundle_files(env))}


def bundle_files(env: EnvPlan) -> dict[str, bytes]:
    """Path inside the bundle -> content, for one environment."""
    modules = {path: text for path, text in sorted(env.rego_sources.items()) if not path.endswith("_test.rego")}
    configs = {p.name: config(p.data) for p in env.policies}
    digests = {p.name: policy_digest(p.name, env.rego_sources, configs[p.name]) for p in env.policies}
    manifest = {
        "roots": ROOTS,
        "rego_version": 1,
        "metadata": {
            "environment": env.name,
            "policies": {
                p.name: {"version": p.version, "mode": p.mode, "digest": digests[p.name]} for p in env.policies
            },
        },
    }
    files = {path: text.encode("utf-8") for path, text in modules.items()}
    files["data.json"] = _json({"gateway": {"config": {name: {"mode": env.policy(name).mode, **c}
                                                          for name, c in configs.items()}}})
    files[MANIFEST] = _json(manifest)
    return seal(files)


def seal(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """files with their manifest's `metadata.files` and `revision` written for their content."""
    manifest = json.loads(files[MANIFEST])
    manifest.pop("revision", None)
    manifest.setdefault("metadata", {})[FILE_DIGESTS_KEY] = file_digests(files)
    manifest["revision"] = revision(manifest)
    return dict(sorted({**files, MANIFEST: _json(manifest)}.items()))


def tar_gz(files: Mapping[str, bytes]) -> bytes:
    """Deterministic .tar.gz of files (sorted, fixed metadata). Names start with "/" as in the
    bundles `opa build` writes: OPA's loader finds policy.wasm only at the path the manifest's
    `wasm[].module` names ("/policy.wasm")."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(files):
            info = tarfile.TarInfo("/" + path.lstrip("/"))
            info.size = len(files[path])
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[path]))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def read_files(bundle: bytes) -> dict[str, bytes]:
    """The files of a bundle written by tar_gz (or by `opa build`), by path without the leading "/"."""
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
        return {m.name.lstrip("/"): handle.read() for m in tar.getmembers()
                if m.isfile() and (handle := tar.extractfile(m)) is not None}


def _json(value: Any) -> bytes:
    return dump_json(value).encode("utf-8")
