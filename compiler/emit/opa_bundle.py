"""The OPA bundle of one environment: `opa/bundle.tar.gz` in OPA's bundle format.

- `.manifest`: `revision` (policy versions plus a content digest), `roots`, `rego_version` 1, and
  metadata with each policy's version, mode and digest;
- the Rego modules of rego/ (tests excluded);
- `data.json`: `gateway.config.<policy>`, what the Rego reads (compiler/policy_data.py).

The bytes are deterministic: entries sorted, tar metadata fixed (mtime 0, uid/gid 0, mode 0644),
gzip header without name or time. policy.wasm is added by compiler/opa_wasm.py where the opa
CLI exists (it is the one step that runs a program, so it is not part of this pure emitter).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Mapping
from typing import Any

from compiler.emit._json import dump_json
from compiler.plan import EnvPlan, PolicyPlan
from compiler.policy_data import config
from compiler.policy_versions import policy_digest

__all__ = ["BUNDLE_PATH", "bundle_files", "render_env", "tar_gz"]

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
        "revision": revision(env.policies, digests),
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
    files[".manifest"] = _json(manifest)
    return dict(sorted(files.items()))


def revision(policies: tuple[PolicyPlan, ...], digests: Mapping[str, str]) -> str:
    """`prompt-1.0.0.output-1.0.0.<12 hex>`: the versions people read, and a digest that changes with
    any content or mode change."""
    h = hashlib.sha256()
    for p in policies:
        h.update(f"{p.name}\0{p.version}\0{p.mode}\0{digests[p.name]}\n".encode())
    return ".".join(f"{p.name}-{p.version}" for p in policies) + "." + h.hexdigest()[:12]


def tar_gz(files: Mapping[str, bytes]) -> bytes:
    """Deterministic .tar.gz of files (sorted, fixed metadata)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(path)
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


def _json(value: Any) -> bytes:
    return dump_json(value).encode("utf-8")
