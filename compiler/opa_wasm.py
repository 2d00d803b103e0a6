"""policy.wasm in every OPA bundle: `opa build -t wasm` with one entrypoint per decision, run with
the OPA CLI of compiler/policy_tests.opa_binary() (OPA_BINARY, .tools/bin/opa, PATH). The one
compile step that runs a program, so it sits after the (pure) emitters.

What opa compiles is the bundle's Rego and data.json; their digest (`metadata.wasm_source` in the
manifest) keys the module. A machine without opa reuses the module of the bundle already written
(in the output directory, else in the repository's generated/) when that digest is unchanged, so
`compile` and `compile --check` work on a fresh clone; a changed policy there is an error that
says how to get opa. opa's output is deterministic: it runs in a directory of its own with
relative paths, so nothing of this machine (temporary names, cwd) reaches the module.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from compiler.emit._json import dump_json
from compiler.emit.opa_bundle import BUNDLE_PATH, bundle_files, read_files, seal, tar_gz
from compiler.errors import Position, SpecError, SpecErrors
from compiler.plan import Plan
from compiler.policy_tests import opa_binary
from runtime.policy._digests import MANIFEST

__all__ = ["ENTRYPOINTS", "WASM", "add_wasm", "wasm_source"]

ENTRYPOINTS = ("gateway/prompt/decision", "gateway/output/decision")
WASM = "policy.wasm"
SOURCE_KEY = "wasm_source"
GET_OPA = ("run scripts/setup on a machine with Go (it installs the pinned OPA CLI into .tools/bin), "
           "or set OPA_BINARY to an opa 1.20.2")

# Modules built in this process, by source digest: the tests compile the same sources many times.
_BUILT: dict[str, bytes] = {}


def add_wasm(rendered: Mapping[str, str | bytes], plan: Plan, previous: Iterable[Path]) -> dict[str, str | bytes]:
    """rendered with policy.wasm added to every bundle it holds. previous: directories of earlier
    output whose bundles may hold the module already (reused only for the same sources)."""
    opa = opa_binary()
    out = dict(rendered)
    for env in plan.environments:
        path = f"{env.name}/{BUNDLE_PATH}"
        if path not in out:
            continue
        files = bundle_files(env)
        if not any(name.endswith(".rego") for name in files):
            continue  # a project without Rego (rego/ absent): nothing to compile
        source = wasm_source(files)
        module = _BUILT.get(source) or _reused(source, [d / path for d in previous])
        if module is None:
            if opa is None:
                raise SpecErrors([_changed_without_opa(files, [d / path for d in previous])])
            module = _build(opa, files)
        _BUILT[source] = module
        files[WASM] = module
        manifest = json.loads(files[MANIFEST])
        manifest["wasm"] = [{"entrypoint": e, "module": f"/{WASM}"} for e in ENTRYPOINTS]
        manifest["metadata"][SOURCE_KEY] = source
        files[MANIFEST] = dump_json(manifest).encode("utf-8")
        out[path] = tar_gz(seal(files))  # the manifest lists policy.wasm too, and the revision changes
    return out


def wasm_source(files: Mapping[str, bytes]) -> str:
    """sha256 of exactly what `opa build` compiles: the entrypoints, the Rego modules, data.json."""
    h = hashlib.sha256()
    h.update(("\n".join(ENTRYPOINTS) + "\n").encode())
    for name in sorted(files):
        if name.endswith(".rego") or name == "data.json":
            h.update(f"{name}\0{hashlib.sha256(files[name]).hexdigest()}\n".encode())
    return f"sha256:{h.hexdigest()}"


def _read(bundle: Path) -> dict[str, bytes]:
    try:
        return read_files(bundle.read_bytes())
    except (OSError, tarfile.TarError, EOFError):
        return {}


def _reused(source: str, bundles: list[Path]) -> bytes | None:
    for bundle in bundles:
        files = _read(bundle)
        try:
            recorded = json.loads(files[MANIFEST])["metadata"].get(SOURCE_KEY)
        except (KeyError, ValueError, AttributeError):
            continue
        if recorded == source and WASM in files:
            return files[WASM]
    return None


def _changed_without_opa(files: Mapping[str, bytes], bundles: list[Path]) -> SpecError:
    """Where the sources differ from the last built bundle: the first changed line of a module,
    else the policy data (the specs)."""
    old = next((f for f in map(_read, bundles) if f), {})
    where = Position("specs/policies.yaml", 1, 1)
    for name in sorted(n for n in files if n.endswith(".rego")):
        before = old.get(name, b"").decode("utf-8", "replace").splitlines()
        after = files[name].decode("utf-8").splitlines()
        if before != after:
            line = next((i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b),
                        min(len(before), len(after)))
            where = Position(name, line + 1, 1)
            break
    return SpecError(where, "the policies changed and no OPA CLI is here to compile policy.wasm for them",
                     GET_OPA)


def _build(opa: str, files: Mapping[str, bytes]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="gatewayctl-wasm-") as tmp:
        for name, content in files.items():
            target = Path(tmp, "bundle", name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        args = [opa, "build", "-t", "wasm", "-b", "bundle", "-o", "wasm.tar.gz"]
        for entrypoint in ENTRYPOINTS:
            args += ["-e", entrypoint]
        proc = subprocess.run(args, cwd=tmp, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            message = " ".join((proc.stderr or proc.stdout).split())
            raise SpecErrors([SpecError(Position("rego"), f"opa build -t wasm failed: {message}",
                                        "run `gatewayctl test-policies`; the Rego must compile with this opa")])
        module = read_files(Path(tmp, "wasm.tar.gz").read_bytes()).get(WASM)
        if module is not None:
            return module
    raise SpecErrors([SpecError(Position("rego"), "opa build -t wasm wrote no policy.wasm")])
