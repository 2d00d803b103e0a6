"""`gatewayctl compile` adds policy.wasm to the bundles where an opa binary is on PATH, and says
once that it cannot where none is. No opa here: a stand-in answers `opa build` like opa does."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from policy_helpers import members

from compiler.cli import main


def compile_out(project: Path, out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["-C", str(project), "compile", "--out", str(out)])
    return result.exit_code, result.stderr


def test_without_opa_the_compile_says_so_once(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    code, err = compile_out(project, tmp_path / "out")
    assert code == 0
    assert err.count("no opa binary on PATH") == 1
    assert err.startswith("rego: warning: ")


def test_with_opa_every_bundle_gets_policy_wasm_and_its_entrypoints(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    fake = bin_dir / "opa"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import io, sys, tarfile\n"
        f"open({str(calls)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        "out = sys.argv[sys.argv.index('-o') + 1]\n"
        "with tarfile.open(out, 'w:gz') as tar:\n"
        "    data = b'\\0asm fake'\n"
        "    info = tarfile.TarInfo('/policy.wasm'); info.size = len(data)\n"
        "    tar.addfile(info, io.BytesIO(data))\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    code, err = compile_out(project, tmp_path / "out")
    assert code == 0, err
    assert "no opa binary" not in err
    for env in ("dev", "staging", "prod"):
        bundle = (tmp_path / "out" / env / "opa" / "bundle.tar.gz").read_bytes()
        names = [m.name for m in members(bundle)]
        assert "policy.wasm" in names
        with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
            manifest = json.load(tar.extractfile(".manifest"))  # type: ignore[arg-type]
        assert manifest["wasm"] == [
            {"entrypoint": "gateway/prompt/decision", "module": "/policy.wasm"},
            {"entrypoint": "gateway/output/decision", "module": "/policy.wasm"},
        ]
    args = calls.read_text().splitlines()[0].split()
    assert args[:3] == ["build", "-t", "wasm"]
    assert args.count("-e") == 2 and "-b" in args
