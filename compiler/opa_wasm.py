"""policy.wasm in the OPA bundles, where an `opa` binary is on PATH: `opa build -t wasm` with the
two decision entrypoints, the module added to each environment's bundle. The one compile step
that runs a program, so it sits after the (pure) emitters. Without opa the bundles hold only the
Rego, which the gateway evaluates with its embedded OPA engine; the compile says so once.

The bytes of policy.wasm are opa's: a machine with opa writes bundles that differ from those
written without it, so a team that commits generated/ builds it on one kind of machine (CI).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path

from compiler.emit._json import dump_json
from compiler.emit.opa_bundle import BUNDLE_PATH, bundle_files, seal, tar_gz
from compiler.errors import Position, SpecError, SpecErrors
from compiler.plan import Plan

__all__ = ["ENTRYPOINTS", "NO_OPA", "add_wasm"]

ENTRYPOINTS = ("gateway/prompt/decision", "gateway/output/decision")
NO_OPA = SpecError(
    Position("rego"),
    "no opa binary on PATH: the bundles hold no policy.wasm, and the gateway evaluates their Rego "
    "with its embedded OPA engine",
    severity="warning",
)


def add_wasm(rendered: Mapping[str, str | bytes], plan: Plan) -> tuple[dict[str, str | bytes], list[SpecError]]:
    """rendered with policy.wasm added to every bundle it holds, and the notes to print."""
    opa = shutil.which("opa")
    if opa is None:
        return dict(rendered), [NO_OPA]
    out = dict(rendered)
    for env in plan.environments:
        path = f"{env.name}/{BUNDLE_PATH}"
        if path not in out:
            continue
        files = bundle_files(env)
        files["policy.wasm"] = _build(opa, files)
        manifest = json.loads(files[".manifest"])
        manifest["wasm"] = [{"entrypoint": e, "module": "/policy.wasm"} for e in ENTRYPOINTS]
        files[".manifest"] = dump_json(manifest).encode("utf-8")
        out[path] = tar_gz(seal(files))  # the manifest lists policy.wasm too, and the revision changes
    return out, []


def _build(opa: str, files: Mapping[str, bytes]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="gatewayctl-wasm-") as tmp:
        src = Path(tmp, "src")
        for name, content in files.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes(content)
        target = Path(tmp, "wasm.tar.gz")
        args = [opa, "build", "-t", "wasm", "-b", str(src), "-o", str(target)]
        for entrypoint in ENTRYPOINTS:
            args += ["-e", entrypoint]
        proc = subprocess.run(args, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            message = " ".join((proc.stderr or proc.stdout).split())
            raise SpecErrors([SpecError(Position("rego"), f"opa build -t wasm failed: {message}",
                                        "run `gatewayctl test-policies`; the Rego must compile with this opa")])
        with tarfile.open(fileobj=io.BytesIO(target.read_bytes()), mode="r:gz") as tar:
            for member in tar.getmembers():
                if member.name.lstrip("/") == "policy.wasm":
                    handle = tar.extractfile(member)
                    if handle is not None:
                        return handle.read()
    raise SpecErrors([SpecError(Position("rego"), "opa build -t wasm wrote no policy.wasm")])
