"""Helpers of the policy tests: bundles compiled from the repository's specs, written where a test
wants them (tests import this module; they never import conftest)."""

from __future__ import annotations

import io
import json
import tarfile
from functools import cache
from pathlib import Path

from compiler.emit.opa_bundle import bundle_files, tar_gz
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
    data = json.loads(content["data.json"])
    data["gateway"]["config"][policy]["mode"] = mode
    return {**content, "data.json": json.dumps(data).encode()}


def with_version(content: dict[str, bytes], policy: str, version: str) -> dict[str, bytes]:
    manifest = json.loads(content[".manifest"])
    manifest["metadata"]["policies"][policy]["version"] = version
    manifest["revision"] = f"test-{policy}-{version}"
    return {**content, ".manifest": json.dumps(manifest).encode()}


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
