"""`gatewayctl compile` builds policy.wasm into every bundle with the real OPA CLI (the lookup of
compiler/policy_tests.opa_binary), deterministically; without opa it reuses the module of the
bundle already written while the policies and their data are unchanged, and refuses a change."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler import opa_wasm
from compiler.cli import main
from compiler.policy_tests import opa_binary
from runtime.policy import PolicyStore

pytestmark = pytest.mark.skipif(
    opa_binary() is None,
    reason="no OPA CLI: scripts/setup installs it where Go is present (.tools/bin/opa); else set OPA_BINARY",
)
ENVS = ("dev", "staging", "prod")


def run(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args])
    return result.exit_code, result.stderr


def bundle(out: Path, env: str) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO((out / env / "opa" / "bundle.tar.gz").read_bytes()), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


@pytest.fixture(autouse=True)
def no_module_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opa_wasm, "_BUILT", {})  # every compile of a test runs opa (or does not)


def test_every_bundle_holds_policy_wasm_built_by_opa(project: Path, tmp_path: Path) -> None:
    code, err = run(project, "compile", "--out", str(tmp_path / "out"))
    assert (code, err) == (0, "")  # no warning about opa any more
    for env in ENVS:
        files = bundle(tmp_path / "out", env)
        assert files["policy.wasm"].startswith(b"\0asm")
        manifest = json.loads(files[".manifest"])
        assert manifest["wasm"] == [
            {"entrypoint": "gateway/prompt/decision", "module": "/policy.wasm"},
            {"entrypoint": "gateway/output/decision", "module": "/policy.wasm"},
        ]
        assert manifest["metadata"]["wasm_source"] == opa_wasm.wasm_source(files)
    # The module is the policy: the wasm engine decides with it.
    store = PolicyStore(tmp_path / "out" / "prod" / "opa" / "bundle.tar.gz", engine="wasm")
    text = "mail jane.doe@example.com"
    decision = store.evaluate("prompt", {"texts": [{"field": "f", "role": "user", "text": text}]})
    assert store.status()["engine"] == "wasm"
    assert [v["rule"] for v in decision["violations"]] == ["pii_email"]


def test_the_same_sources_give_the_same_bytes_from_any_directory(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outs = []
    for n in (1, 2):
        cwd = tmp_path / f"cwd{n}"
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        monkeypatch.setattr(opa_wasm, "_BUILT", {})
        assert run(project, "compile", "--out", str(tmp_path / f"out{n}"))[0] == 0
        outs.append([(tmp_path / f"out{n}" / env / "opa" / "bundle.tar.gz").read_bytes() for env in ENVS])
    assert outs[0] == outs[1]


def test_without_opa_unchanged_policies_reuse_the_module(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    assert run(project, "compile", "--out", str(out))[0] == 0
    before = [(out / env / "opa" / "bundle.tar.gz").read_bytes() for env in ENVS]
    monkeypatch.setenv("OPA_BINARY", "")  # set and empty: no OPA CLI
    monkeypatch.setattr(opa_wasm, "_BUILT", {})
    assert run(project, "compile", "--check", "--out", str(out)) == (0, "")
    assert run(project, "compile", "--out", str(out)) == (0, "")
    assert [(out / env / "opa" / "bundle.tar.gz").read_bytes() for env in ENVS] == before


def test_without_opa_a_changed_policy_is_an_error_that_says_how_to_get_opa(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    assert run(project, "compile", "--out", str(out))[0] == 0
    specs = project / "specs" / "policies.yaml"
    text = specs.read_text()
    specs.write_text(text.replace("mode: {dev: monitor,", "mode: {dev: enforce,", 1))  # data.json changes
    monkeypatch.setenv("OPA_BINARY", "")
    monkeypatch.setattr(opa_wasm, "_BUILT", {})
    for args in (("compile", "--check", "--out", str(out)), ("compile", "--out", str(out))):
        code, err = run(project, *args)
        assert code == 1
        assert err.startswith("specs/policies.yaml:1:1: error: the policies changed and no OPA CLI is here")
        assert "scripts/setup" in err and "OPA_BINARY" in err
        assert "Traceback" not in err
