"""gatewayctl's interface: exit codes, --check, atomic writes, schemas, the repository port scan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from compiler import emit
from compiler.cli import main
from compiler.schema import spec_schema
from compiler.write import read_tree

REPO = Path(__file__).resolve().parents[2]


def gatewayctl(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args])
    return result.exit_code, result.output


def compile_then_change_specs(project: Path, out: Path) -> dict[str, bytes]:
    """Compile into `out`, then change a spec value (600 -> 700 requests/minute): `out` is now stale.
    Returns what `out` held."""
    assert gatewayctl(project, "compile", "--out", str(out))[0] == 0
    gateway = project / "specs" / "gateway.yaml"
    gateway.write_text(gateway.read_text().replace("requests_per_minute: 600", "requests_per_minute: 700"))
    return read_tree(out)


def test_user_mistake_exits_1_without_traceback_in_a_real_process(project: Path) -> None:
    gateway = project / "specs" / "gateway.yaml"
    gateway.write_text(gateway.read_text().replace("port: 8001", "port: 8080", 1))
    run = subprocess.run([sys.executable, "-m", "compiler", "-C", str(project), "validate"],
                         capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert 'specs/gateway.yaml:18:11: error: port 8080 is already taken by service "policy-gateway"' in run.stderr


def test_unknown_environment_is_a_usage_error(project: Path, tmp_path: Path) -> None:
    code, output = gatewayctl(project, "compile", "--env", "qa", "--out", str(tmp_path / "out"))
    assert code == 2
    assert "unknown environment(s): qa" in output


def test_check_reports_stale_output_with_a_diff_and_writes_nothing(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = compile_then_change_specs(project, out)
    code, output = gatewayctl(project, "compile", "--out", str(out), "--check")
    assert code == 1
    assert '-    "requests_per_minute": 600' in output
    assert '+    "requests_per_minute": 700' in output
    assert read_tree(out) == before


def test_check_is_clean_right_after_compile(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    gatewayctl(project, "compile", "--out", str(out))
    code, output = gatewayctl(project, "compile", "--out", str(out), "--check")
    assert code == 0, output
    assert "up to date" in output


def test_a_failing_emitter_leaves_generated_unchanged(project: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    before = compile_then_change_specs(project, out)

    def broken(plan: object) -> dict[str, str]:
        raise RuntimeError("emitter bug")

    monkeypatch.setattr(emit, "EMITTERS", (*emit.EMITTERS, broken))
    result = CliRunner().invoke(main, ["-C", str(project), "compile", "--out", str(out)])
    assert isinstance(result.exception, RuntimeError)
    assert read_tree(out) == before


def test_a_write_failing_midway_leaves_generated_unchanged(project: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    before = compile_then_change_specs(project, out)
    real_write = Path.write_bytes
    written: list[Path] = []

    def flaky_write(self: Path, data: bytes) -> int:
        if len(written) == 5:
            raise OSError(28, "No space left on device")
        written.append(self)
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", flaky_write)
    result = CliRunner().invoke(main, ["-C", str(project), "compile", "--out", str(out)])
    monkeypatch.undo()
    assert isinstance(result.exception, OSError)
    assert read_tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "project"]  # no temporary trees left


def test_compile_one_environment_keeps_the_others(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = compile_then_change_specs(project, out)
    assert gatewayctl(project, "compile", "--env", "staging", "--out", str(out))[0] == 0
    after = read_tree(out)
    assert after["dev/gateway.json"] == before["dev/gateway.json"]
    assert after["staging/gateway.json"] != before["staging/gateway.json"]
    manifest = json.loads(after["manifest.json"])
    assert set(manifest["files"]) == set(after) - {"manifest.json"}


def test_schema_file_is_generated_from_the_models() -> None:
    assert (REPO / "schemas" / "spec.schema.json").read_text() == spec_schema()


def test_example_specs_validate_against_the_published_schema() -> None:
    schema = json.loads(spec_schema())
    yaml = YAML(typ="safe")
    for path in sorted((REPO / "specs").glob("*.yaml")):
        jsonschema.validate(yaml.load(path.read_text()), schema)
        assert path.read_text().startswith("# yaml-language-server: $schema=../schemas/spec.schema.json")


def test_schema_rejects_unknown_keys_like_the_compiler() -> None:
    schema = json.loads(spec_schema())
    with pytest.raises(jsonschema.ValidationError, match="prot"):
        jsonschema.validate({"services": {"x": {"image": "i", "port": 1, "prot": 2}}}, schema)


def test_hand_written_compose_file_binding_a_registry_port_is_an_error(project: Path) -> None:
    skeleton = project / "infra" / "docker" / "docker-compose.skeleton.yml"
    skeleton.parent.mkdir(parents=True)
    skeleton.write_text("services:\n  web:\n    image: nginx\n    ports:\n      - \"127.0.0.1:8080:80\"\n"
                        "  policy-gateway:\n    image: gw\n    ports: [\"8080:8080\"]\n")
    code, output = gatewayctl(project, "validate")
    assert code == 1
    assert output.splitlines()[0] == (
        'infra/docker/docker-compose.skeleton.yml:5:9: error: service "web" binds host port 8080, which the '
        'registry gives to "policy-gateway" (specs/gateway.yaml:7:11) (hint: change this port, or register the '
        "service in specs/ and use its port)")
    assert "skeleton.yml:8" not in output  # the registered service itself may bind its own port


def test_a_section_in_two_files_names_both(project: Path) -> None:
    (project / "specs" / "extra.yaml").write_text("router:\n  num_retries: 1\n")
    code, output = gatewayctl(project, "validate")
    assert code == 1
    assert output.splitlines()[0].startswith(
        'specs/extra.yaml:1:1: error: section "router" is already defined in specs/backends.yaml:')


def test_an_empty_spec_file_is_reported_in_that_file_alone(project: Path) -> None:
    (project / "specs" / "gateway.yaml").write_text("")
    code, output = gatewayctl(project, "validate")
    assert code == 1
    assert output.splitlines() == [
        "specs/gateway.yaml:1:1: error: spec file is empty (hint: a spec file holds one or more top-level sections "
        "such as `services:`, `environments:`, `backends:`, `models:`, `policies:`; delete the file if it has none)",
        "1 error found",
    ]


def test_an_unclosed_quote_is_reported_where_the_string_opens(project: Path) -> None:
    policies = project / "specs" / "policies.yaml"
    lines = policies.read_text().splitlines(keepends=True)
    n = max(i for i, line in enumerate(lines) if line.startswith("    version: "))  # the output policy's
    lines[n] = lines[n].replace("version: ", 'version: "')
    policies.write_text("".join(lines))
    code, output = gatewayctl(project, "validate")
    assert code == 1
    assert output.splitlines()[0].startswith(
        f"specs/policies.yaml:{n + 1}:14: error: YAML syntax: unclosed quoted string: it runs to the end of the file")


def test_privileged_port_is_a_warning_not_an_error(project: Path) -> None:
    gateway = project / "specs" / "gateway.yaml"
    gateway.write_text(gateway.read_text().replace("port: 8181", "port: 81", 1))
    code, output = gatewayctl(project, "validate")
    assert code == 0, output
    assert 'warning: port 81 of service "opa" is privileged (< 1024)' in output


def test_ports_json_lists_the_registry_per_environment(project: Path) -> None:
    code, output = gatewayctl(project, "ports", "--json")
    assert code == 0
    table = json.loads(output)
    assert set(table) == {"dev", "staging", "prod"}
    assert {"service": "policy-gateway", "port": "main", "host_port": 8080, "container_port": 8080} in table["prod"]
    assert {"service": "llm-provider", "port": "main", "host_port": 8001, "container_port": 8001} in table["prod"]


def test_technical_spec_doc_keeps_the_port_table_between_markers(project: Path, tmp_path: Path) -> None:
    doc = project / "docs" / "specs" / "008-technical-specifications.md"
    doc.write_text(doc.read_text().replace("| policy-gateway | policy-gateway | 8080", "| stale row"))
    gatewayctl(project, "compile", "--out", str(tmp_path / "out"))
    text = doc.read_text()
    assert "| policy-gateway | policy-gateway | 8080 | 8080 | 8080 | 8080 |" in text
    assert "flowchart LR" in text
    assert "stale row" not in text


def test_version_prints_the_package_version_and_exits_0() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"gatewayctl {version('llm-gateway-policy')}\n"


def test_doctor_finds_the_venvs_tools_when_the_venv_is_not_on_path(project: Path) -> None:
    venv_bin = Path(sys.executable).parent
    path = os.pathsep.join(d for d in os.defpath.split(os.pathsep) if d and Path(d) != venv_bin)
    run = subprocess.run([sys.executable, "-m", "compiler", "-C", str(project), "doctor"], capture_output=True,
                         text=True, check=False, env={**os.environ, "PATH": path, "PYTHONPATH": str(REPO)})
    assert "Traceback" not in run.stderr
    for tool in ("just", "docker-compose"):
        assert f"[ok  ] tool {tool} ({venv_bin / tool})" in run.stdout, run.stdout
