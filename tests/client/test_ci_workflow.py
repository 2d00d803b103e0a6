"""The hosted CI workflow and .ci/run must never disagree: same setup, same `just` recipes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
JUST = REPO / ".venv" / "bin" / "just"
JUST_CALL = re.compile(r"(?:^|\s)(?:\S*/)?just\s+([a-z][a-z0-9-]*)")


def workflow_commands() -> list[str]:
    workflow = YAML(typ="safe").load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    return [step["run"].strip() for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]


def ci_run_commands() -> list[str]:
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "set ", "cd "))]


def recipes(commands: list[str]) -> list[str]:
    return [name for command in commands for name in JUST_CALL.findall(command)]


def test_workflow_sets_up_with_the_same_script_as_ci_run() -> None:
    assert workflow_commands()[0] == "scripts/setup"
    assert ci_run_commands()[0] == "scripts/setup"


def test_every_recipe_ci_run_calls_is_called_by_the_workflow() -> None:
    expected = recipes(ci_run_commands())
    assert expected, ".ci/run calls no just recipe"
    assert set(expected) <= set(recipes(workflow_commands()))


def test_the_workflow_calls_only_recipes_that_exist() -> None:
    summary = subprocess.run(
        [str(JUST), "--summary"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()
    missing = [name for name in recipes(workflow_commands()) if name not in summary]
    assert missing == []


def test_the_test_recipe_builds_and_tests_the_typescript_client() -> None:
    dry = subprocess.run([str(JUST), "--dry-run", "test"], cwd=REPO, check=True, capture_output=True, text=True).stderr
    assert "clients/typescript" in dry and "npm test" in dry


def test_the_workflow_installs_go_before_setup_builds_the_field_clis() -> None:
    workflow = YAML(typ="safe").load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    steps = workflow["jobs"]["test"]["steps"]
    uses = [step.get("uses", "").split("@")[0] for step in steps]
    setup = next(i for i, step in enumerate(steps) if step.get("run") == "scripts/setup")
    assert uses.index("actions/setup-go") < setup
    setup_text = (REPO / "scripts" / "setup").read_text()
    for tool in ("opa", "regal", "helm", "kubeconform", "conftest"):
        assert re.search(rf"^go_tool {tool} \S+ \S+ v\d+\.\d+\.\d+ ", setup_text, re.M), tool


def test_the_test_recipe_runs_opa_check_fmt_regal_and_opa_test() -> None:
    dry = subprocess.run([str(JUST), "--dry-run", "test"], cwd=REPO, check=True, capture_output=True, text=True).stderr
    for command in ("opa check --strict rego deploy/policy", "opa fmt --list --fail rego deploy/policy",
                    "regal lint rego deploy/policy", "gatewayctl test-policies"):
        assert command in dry, command
    # ... and pytest over tests/, where tests/deploy/test_deploy_chart_cli.py runs helm, kubeconform, conftest
    assert re.search(r"pytest -q\s*$", dry, re.M)
    assert (REPO / "tests" / "deploy" / "test_deploy_chart_cli.py").is_file()
