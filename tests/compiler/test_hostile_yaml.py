"""Hostile YAML is refused at its file:line:col in well under a second, by a process that stays small.

The fixtures are generated here, in temporary projects: a billion-laughs alias bomb, lists nested
50,000 deep, a 20 MB file, a megabyte of one flat list. Each runs `gatewayctl` in a real process
whose CPU time and peak RSS it reports itself when it exits. CPU time, not wall time: the cost of
the refusal is the same on a machine busy with other work, where the wall clock is not.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from compiler import safe_yaml
from compiler.errors import SpecErrors
from compiler.load import load_specs
from compiler.safe_yaml import MAX_YAML_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES

REPO = Path(__file__).resolve().parents[2]
CPU_SECONDS = 1.0
RSS_MB = 200


def alias_bomb() -> str:
    """Billion laughs: nine levels of nine aliases each, 9**9 strings once expanded."""
    lines = ['lol0: &l0 "lol"']
    lines += [f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def deep_flow_list() -> str:
    return "services: " + "[" * 50_000 + "]" * 50_000 + "\n"


def deep_block_list() -> str:
    return "services:\n  " + "- " * 50_000 + "x\n"


def twenty_megabytes() -> str:
    return "# padding\n" * 2_097_152 + "services: {}\n"


def flat_list_of_a_megabyte() -> str:
    """Under the size limit, but 500,000 nodes: parsing it all would take ruamel ~20 s."""
    return "services: [" + "0," * 500_000 + "0]\n"


def aliases_nesting_deep() -> str:
    """Each anchor is shallow; the alias chain nests beyond the limit only once expanded."""
    lines = ["a0: &a0 " + "[" * 30 + "]" * 30]
    lines += [f"a{i}: &a{i} " + "[" * 30 + f"*a{i - 1}" + "]" * 30 for i in range(1, 4)]
    return "\n".join(lines) + "\n"


def python_object_tag() -> str:
    return "services: !!python/object/apply:os.system [echo pwned]\n"


# generator -> (line:col, message) of the one error gatewayctl must print for specs/hostile.yaml
CASES: dict[str, tuple[Callable[[], str], str, str]] = {
    "alias_bomb": (alias_bomb, "6:37", f"alias *l4 expands the file to more than {MAX_YAML_NODES:,} YAML nodes"),
    # libyaml's lookahead stops at its own 1,000-level limit, before the 65th bracket is an event
    "deep_flow_list": (deep_flow_list, "1:1010", f"values nest deeper than {MAX_YAML_DEPTH} levels"),
    "deep_block_list": (deep_block_list, "2:129", f"values nest deeper than {MAX_YAML_DEPTH} levels"),
    "twenty_megabytes": (twenty_megabytes, "1:1", f"file is larger than {MAX_YAML_BYTES:,} bytes (20,971,533)"),
    "flat_list_of_a_megabyte": (flat_list_of_a_megabyte, "1:100006",
                                f"file holds more than {MAX_YAML_NODES:,} YAML nodes"),
    "aliases_nesting_deep": (aliases_nesting_deep, "3:39", f"alias *a1 nests values deeper than {MAX_YAML_DEPTH}"),
    "python_object_tag": (python_object_tag, "1:11", "YAML tag !!python/object/apply:os.system is not supported"),
}


# gatewayctl, reporting its peak RSS (VmHWM) as it exits. Not the child's ru_maxrss: on Linux
# that starts from the parent's high-water mark (pytest's, here), inherited across fork and exec.
GATEWAYCTL_REPORTING_ITS_COST = """
import atexit, os, runpy, sys

def report() -> None:
    cpu = os.times()
    with open("/proc/self/status") as status, open(os.environ["REPORT_FILE"], "w") as out:
        peak_kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
        out.write(f"{peak_kb} {cpu.user + cpu.system}")

atexit.register(report)
sys.argv[0] = "gatewayctl"
runpy.run_module("compiler", run_name="__main__")
"""


@dataclass(frozen=True)
class Measured:
    code: int
    stderr: str
    cpu_seconds: float
    rss_mb: float


def run_measured(*args: str) -> Measured:
    """Run gatewayctl in its own process: exit code, stderr, CPU seconds, peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report"
        try:
            run = subprocess.run([sys.executable, "-c", GATEWAYCTL_REPORTING_ITS_COST, *args],
                                 capture_output=True, text=True, check=False, timeout=30,
                                 env={**os.environ, "REPORT_FILE": str(report)})
        except subprocess.TimeoutExpired:
            pytest.fail(f"gatewayctl {' '.join(args)} ran for more than 30 s")
        peak_kb, cpu_seconds = report.read_text().split()
        return Measured(run.returncode, run.stderr, float(cpu_seconds), int(peak_kb) / 1024)


@pytest.fixture(scope="module")
def hostile_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Written once per module: each test adds its hostile file next to the example specs."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "specs").mkdir()
    for path in (REPO / "specs").glob("*.yaml"):
        (root / "specs" / path.name).write_bytes(path.read_bytes())
    return root


@pytest.mark.parametrize("command", ["validate", "compile"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_spec_is_refused_at_its_location_quickly_and_in_little_memory(
        name: str, command: str, hostile_project: Path) -> None:
    make, where, message = CASES[name]
    hostile = hostile_project / "specs" / "hostile.yaml"
    hostile.write_text(make())
    try:
        run = run_measured("-C", str(hostile_project), command,
                           *(["--out", str(hostile_project / "out")] if command == "compile" else []))
    finally:
        hostile.unlink()
    assert run.code == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.splitlines()[0].startswith(f"specs/hostile.yaml:{where}: error: {message}"), run.stderr
    assert run.stderr.splitlines()[1:] == ["1 error found"], run.stderr
    assert run.cpu_seconds < CPU_SECONDS, f"{name}: {run.cpu_seconds:.2f} s of CPU"
    assert run.rss_mb < RSS_MB, f"{name}: {run.rss_mb:.0f} MB"


@pytest.mark.parametrize("name", sorted(set(CASES) - {"twenty_megabytes"}))
def test_ruamels_composer_enforces_the_same_limits_when_libyaml_does_not(
        name: str, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make, where, message = CASES[name]
    (project / "specs" / "hostile.yaml").write_text(make())
    monkeypatch.setattr(safe_yaml, "_precheck", lambda text: None)
    with pytest.raises(SpecErrors) as caught:
        load_specs(project)
    [problem] = caught.value.problems
    exact = "1:74" if name == "deep_flow_list" else where  # the 65th bracket itself
    assert str(problem).startswith(f"specs/hostile.yaml:{exact}: error: {message}")


def test_a_spec_with_a_thousand_models_loads_within_the_limits(tmp_path: Path) -> None:
    """The shape of bench/compile.py's synthetic spec: the limits must leave room for it."""
    models = "".join(f"  - name: model-{i}\n    backend: gpu_fast\n    litellm_params: {{model: openai/model-{i}}}\n"
                     f"    fallbacks: [chat-default]\n" for i in range(1000))
    path = tmp_path / "backends.yaml"
    path.write_text((REPO / "specs" / "backends.yaml").read_text().replace("models:\n", "models:\n" + models, 1))
    raw, node = safe_yaml.read_yaml(path, "specs/backends.yaml")
    assert len(node["models"]) > 1000
    assert len(raw) * 4 < MAX_YAML_BYTES


def test_yaml_merge_keys_still_work_and_keep_their_positions(project: Path) -> None:
    backends = project / "specs" / "backends.yaml"
    text = backends.read_text().replace("  gpu_fast:\n", "  gpu_fast: &fast\n", 1)
    text = text.replace("  gpu_heavy:\n", "  gpu_copy:\n    <<: *fast\n    legacy_names: []\n  gpu_heavy:\n", 1)
    backends.write_text(text)
    loaded = load_specs(project)
    assert loaded.document["backends"]["gpu_copy"]["base_url"] == "http://gpu-fast.internal:11434"
    assert str(loaded.source_map.locate(("backends", "gpu_copy", "base_url"))) == "specs/backends.yaml:11:15"
