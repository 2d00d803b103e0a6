"""The OPA bundle emitter: OPA's layout, versions in the manifest, deterministic bytes."""

from __future__ import annotations

import gzip
import json

import pytest
from policy_helpers import REPO, env_plans, files, members

from compiler.emit.opa_bundle import BUNDLE_PATH, render_env


def test_bundle_holds_manifest_data_and_modules_without_tests() -> None:
    names = set(files())
    assert names == {".manifest", "data.json", "rego/lib/detect.rego", "rego/output_policy.rego",
                     "rego/prompt_policy.rego"}


def test_manifest_names_roots_revision_and_each_policy_version() -> None:
    manifest = json.loads(files("prod")[".manifest"])
    assert manifest["roots"] == ["gateway"]
    assert manifest["rego_version"] == 1
    versions = {name: p.version for name, p in ((p.name, p) for p in env_plans()["prod"].policies)}
    assert manifest["revision"].startswith(f"prompt-{versions['prompt']}.output-{versions['output']}.")
    policies = manifest["metadata"]["policies"]
    assert {name: p["version"] for name, p in policies.items()} == versions
    assert all(p["digest"].startswith("sha256:") for p in policies.values())
    assert manifest["metadata"]["environment"] == "prod"


@pytest.mark.parametrize(("env", "mode"), [("dev", "monitor"), ("staging", "enforce"), ("prod", "enforce")])
def test_data_carries_the_mode_of_each_environment(env: str, mode: str) -> None:
    config = json.loads(files(env)["data.json"])["gateway"]["config"]
    assert config["prompt"]["mode"] == mode
    assert config["output"]["action"] == "redact"


def test_a_mode_changes_the_revision_but_not_the_policy_digest() -> None:
    dev, prod = (json.loads(files(e)[".manifest"]) for e in ("dev", "prod"))
    assert dev["revision"] != prod["revision"]
    assert dev["metadata"]["policies"]["prompt"]["digest"] == prod["metadata"]["policies"]["prompt"]["digest"]


def test_bundle_bytes_are_deterministic() -> None:
    env = env_plans()["prod"]
    first, second = render_env(env)[BUNDLE_PATH], render_env(env)[BUNDLE_PATH]
    assert first == second
    assert isinstance(first, bytes)
    assert first[4:8] == b"\0\0\0\0"  # gzip header mtime 0
    infos = members(first)
    assert [i.name for i in infos] == sorted(i.name for i in infos)
    assert {(i.mtime, i.uid, i.gid, i.mode, i.uname, i.gname) for i in infos} == {(0, 0, 0, 0o644, "", "")}
    assert first[3] & 0x08 == 0  # no file name in the gzip header
    assert gzip.decompress(first)  # a plain gzip stream


def test_committed_bundles_are_what_the_specs_compile_to() -> None:
    from compiler.pipeline import compile_project

    files = compile_project(REPO, REPO / "generated").files  # policy.wasm included (compiler/opa_wasm.py)
    for name in env_plans():
        assert (REPO / "generated" / name / BUNDLE_PATH).read_bytes() == files[f"{name}/{BUNDLE_PATH}"]
