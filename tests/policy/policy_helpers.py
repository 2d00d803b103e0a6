"""Helpers of the policy tests: bundles compiled from the repository's specs, written where a test
wants them (tests import this module; they never import conftest)."""

from __future__ import annotations

import io
import json
import tarfile
from functools import cache
from pathlib import Path

from compiler.emit.opa_bundle import bundle_files, seal, tar_gz
from compiler.load import load_specs
from compiler.plan import EnvPlan, build_plan
from compiler.validate import validate
from runtime.endpoints import ENDPOINTS, prompt_input

REPO = Path(__file__).resolve().parents[2]
WASM_FIXTURE = REPO.parent / "shared" / "fixtures" / "opa-wasm" / "policy.wasm"


@cache
def env_plans(root: Path = REPO) -> dict[str, EnvPlan]:
    plan = build_plan(validate(load_specs(root), check_lock=False))
    return {e.name: e for e in plan.environments}


def files(env: str = "prod") -> dict[str, bytes]:
    return bundle_files(env_plans()[env])


def write_dir(target: Path, content: dict[str, bytes]) -> Path:
    for path, data in content.items():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_bytes(data)
    return target


def write_tar(target: Path, content: dict[str, bytes]) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(tar_gz(content))
    return target


def with_mode(content: dict[str, bytes], policy: str, mode: str) -> dict[str, bytes]:
    """The bundle as a compile with another mode writes it: data.json and the manifest say the
    mode, and the manifest's digests and revision follow (seal)."""
    data = json.loads(content["data.json"])
    data["gateway"]["config"][policy]["mode"] = mode
    manifest = json.loads(content[".manifest"])
    manifest["metadata"]["policies"][policy]["mode"] = mode
    return seal({**content, "data.json": json.dumps(data).encode(), ".manifest": json.dumps(manifest).encode()})


def with_version(content: dict[str, bytes], policy: str, version: str) -> dict[str, bytes]:
    """The bundle as a compile of another version writes it (a new revision)."""
    manifest = json.loads(content[".manifest"])
    manifest["metadata"]["policies"][policy]["version"] = version
    return seal({**content, ".manifest": json.dumps(manifest).encode()})


def tampered_mode(content: dict[str, bytes], policy: str, mode: str) -> dict[str, bytes]:
    """data.json edited after the compile, the manifest untouched: what hot reload must refuse."""
    data = json.loads(content["data.json"])
    data["gateway"]["config"][policy]["mode"] = mode
    return {**content, "data.json": json.dumps(data).encode()}


def signed(content: dict[str, bytes], private_key_pem: str, key_id: str, algorithm: str = "ES256",
           *, header_kid: str | None = None, payload: dict[str, object] | None = None) -> dict[str, bytes]:
    """content with an OPA `.signatures.json` made directly with PyJWT (independent of
    `gatewayctl bundle sign`): every file but the signatures, with OPA's hash."""
    import jwt

    from runtime.policy._digests import SIGNATURES, opa_file_hash

    body = {k: v for k, v in content.items() if k != SIGNATURES}
    claims: dict[str, object] = payload if payload is not None else {
        "files": [{"name": n, "hash": opa_file_hash(n, v), "algorithm": "SHA-256"} for n, v in sorted(body.items())],
        "keyid": key_id,
    }
    kid = key_id if header_kid is None else header_kid
    token = jwt.encode(claims, private_key_pem, algorithm=algorithm, headers={"kid": kid} if kid else None)
    return {**body, SIGNATURES: json.dumps({"signatures": [token]}).encode()}


def members(tar_gz_bytes: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(tar_gz_bytes), mode="r:gz") as tar:
        return tar.getmembers()


def chat(content: str, **extra: object) -> dict[str, object]:
    """The prompt policy's input for a one-message chat request, as the gateway's reader makes it."""
    body = {"model": "chat-default", "messages": [{"role": "user", "content": content}], **extra}
    return prompt_input(ENDPOINTS["chat"], body)


def answer(text: str, model: str = "chat-default") -> dict[str, object]:
    """The output policy's input for an answer of one text named "text"."""
    return {"model": model, "texts": [{"field": "text", "text": text}]}


def versions(env: str = "prod") -> dict[str, str]:
    """The policy versions the specs name (what the compiled bundle says)."""
    return {p.name: p.version for p in env_plans()[env].policies}
